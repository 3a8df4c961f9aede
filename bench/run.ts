import { runBrokerSuite } from './broker/suite.js';
import { runE2eSuite } from './e2e/suite.js';
import { runFootprintSuite } from './footprint/suite.js';
import { runInferenceSuite } from './inference/suite.js';
import { formatReport, type SuiteReport, writeReport } from './lib/report.js';
import { runMeshSuite } from './mesh/suite.js';
import { runReceiptsSuite } from './receipts/suite.js';
import { runSettlementSuite } from './settlement/suite.js';

/** `npm run bench [-- <suite>…] [--quick]`: every suite measures itself beside its baseline. */
const SUITES: Record<string, (opts: { quick: boolean }) => Promise<SuiteReport>> = {
  broker: runBrokerSuite,
  e2e: runE2eSuite,
  footprint: runFootprintSuite,
  inference: runInferenceSuite,
  mesh: runMeshSuite,
  receipts: runReceiptsSuite,
  settlement: runSettlementSuite,
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !(n in SUITES));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown bench suite ${unknown.join(', ')}; suites: ${Object.keys(SUITES).join(', ')}\n`,
  );
  process.exit(2);
}
for (const name of names.length > 0 ? names : Object.keys(SUITES)) {
  const suite = SUITES[name] as (typeof SUITES)[string];
  const report = await suite({ quick });
  const file = await writeReport(report);
  process.stdout.write(`${formatReport(report)}\n  written to ${file}\n`);
}

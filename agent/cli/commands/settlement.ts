import path from 'node:path';
import { DEFAULT_SETTLEMENT_INIT, type SettlementInit } from '../../../settlement/service/context.js';
import { createSettlementService, type RegisteredModelSpec } from '../../../settlement/service/service.js';
import { createLogger } from '../../log.js';
import { intOption, numberOption, parse, UsageError } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';
import { runUntilStopped } from '../lifecycle.js';

export const SETTLEMENT_HELP = `fieldmesh settlement [options]

Runs the settlement service: takes signed receipt batches from agents over HTTP, answers
each with a signed acknowledgement, spot-checks a fraction of the receipts by re-running the
model on the tensors the agent reveals, and closes an epoch on a timer with a signed reward
root that any node can check its credit against. The service key is printed at start (and at
GET /v1/service); agents need it as settlement.servicePublicKey.

Options:
  --host ADDR              address to listen on (default 127.0.0.1)
  --port N                 TCP port (default 8710)
  --data-dir DIR           service key and embedded ledger (default $FIELDMESH_DATA_DIR or ./data/settlement)
  --database-url URL       PostgreSQL instead of the embedded ledger ($FIELDMESH_DATABASE_URL)
  --model MANIFEST[=N]     register a model by its manifest.json, crediting N per sample (default 1);
                           repeat for more models. Receipts for unregistered models are not credited
  --register NODE          only accept batches from registered nodes, and register NODE (PeerId);
                           repeat for more nodes
  --epoch-s N              seconds between epoch closes (default 60); 0 on every replica but
                           one when several share a PostgreSQL database
  --spot-check-percent P   share of receipts spot-checked per epoch (default 1)
  --reveal-window-s N      seconds a node has to reveal a challenged receipt (default 600)
  --log-level LEVEL        fatal, error, warn, info, debug, trace (default info)
  -h, --help               this help

${EXIT_HELP}`;

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  model: { type: 'string', multiple: true },
  register: { type: 'string', multiple: true },
  'epoch-s': { type: 'string' },
  'spot-check-percent': { type: 'string' },
  'reveal-window-s': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

function modelSpec(text: string): RegisteredModelSpec {
  const eq = text.lastIndexOf('=');
  if (eq < 0) return { manifest: path.resolve(text) };
  const credit = Number(text.slice(eq + 1));
  if (!Number.isSafeInteger(credit) || credit < 0) {
    throw new UsageError(
      `fieldmesh settlement: --model ${text}: the credit after "=" must be a whole number ≥ 0`,
    );
  }
  return { manifest: path.resolve(text.slice(0, eq)), creditPerSample: credit };
}

export async function settlementCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('settlement', argv, OPTIONS);
  if (values.help) {
    process.stdout.write(`${SETTLEMENT_HELP}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`fieldmesh settlement: unexpected "${positionals[0]}"`);
  const cmd = 'settlement';
  const percent = numberOption(cmd, 'spot-check-percent', values['spot-check-percent'], 0);
  if (percent !== undefined && percent > 100)
    throw new UsageError('fieldmesh settlement: --spot-check-percent is at most 100');
  const d = DEFAULT_SETTLEMENT_INIT;
  const register = values.register ?? [];
  const init: SettlementInit = {
    ...d,
    host: values.host ?? d.host,
    port: intOption(cmd, 'port', values.port, 0, 65535) ?? d.port,
    epochMs: (intOption(cmd, 'epoch-s', values['epoch-s'], 0, 86_400 * 30) ?? d.epochMs / 1000) * 1000,
    spotCheckPpm: percent === undefined ? d.spotCheckPpm : Math.round(percent * 10_000),
    revealWindowMs:
      (intOption(cmd, 'reveal-window-s', values['reveal-window-s'], 1, 86_400 * 7) ??
        d.revealWindowMs / 1000) * 1000,
    requireRegistration: register.length > 0,
  };
  const logger = createLogger({ level: values['log-level'] ?? 'info', format: 'json' });
  const databaseUrl = values['database-url'] ?? process.env.FIELDMESH_DATABASE_URL;
  const service = createSettlementService(init, {
    logger,
    dataDir: path.resolve(values['data-dir'] ?? process.env.FIELDMESH_DATA_DIR ?? './data/settlement'),
    ...(databaseUrl ? { databaseUrl } : {}),
    models: (values.model ?? []).map(modelSpec),
    registerNodes: register,
  });
  await runUntilStopped([service], { logger });
  return 0;
}

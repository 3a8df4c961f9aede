/**
 * Generates the example models: trains each autoencoder on synthetic normal data, picks its
 * threshold, evaluates it on injected faults and writes models/examples/<id>/{model.onnx,
 * manifest.json}, and beside them eval.jsonl, the labelled evaluation data the detection-quality
 * test reads (format in eval-data.ts and docs/example-models.md). Run from the repository
 * root: `npm run models:generate` (or
 * `node dist/models/generate/main.js [--out <dir>] [--only <id>]`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EVAL_FILE, evalData, evalDataText } from './eval-data.js';
import type { DetectionStats } from './evaluate.js';
import { buildExample, EXAMPLES, type ExampleResult, manifestText } from './examples.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: 'models/examples' }, only: { type: 'string' } },
  });
  const outDir = path.resolve(values.out);
  const specs = EXAMPLES.filter((s) => values.only === undefined || s.id === values.only);
  if (specs.length === 0) {
    throw new Error(`no example model "${values.only}"; known: ${EXAMPLES.map((s) => s.id).join(', ')}`);
  }
  for (const spec of specs) {
    const started = performance.now();
    const result = buildExample(spec);
    const seconds = (performance.now() - started) / 1000;
    const dir = path.join(outDir, spec.id);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'model.onnx'), result.bytes);
    await writeFile(path.join(dir, 'manifest.json'), manifestText(result.manifest));
    const evalText = evalDataText(evalData(spec));
    await writeFile(path.join(dir, EVAL_FILE), evalText);
    process.stdout.write(report(spec.id, result, seconds, dir));
    process.stdout.write(
      `  wrote ${EVAL_FILE} (${Buffer.byteLength(evalText)} bytes of labelled evaluation data)\n`,
    );
  }
}

function report(id: string, r: ExampleResult, seconds: number, dir: string): string {
  const lines = [
    `${id}: trained in ${seconds.toFixed(1)} s, final loss ${r.losses.at(-1)?.toFixed(5)}`,
    `  normalise mean ${r.normalisation.mean} std ${r.normalisation.std}; threshold ${r.threshold}`,
    ...Object.entries(r.perFault).map(([fault, s]) => `  ${fault.padEnd(9)} ${formatStats(s)}`),
    `  overall   ${formatStats(r.overall)} (faults: ${r.manifest.training?.evaluatedFaults?.join(', ')})`,
    `  wrote ${path.relative(process.cwd(), dir) || dir}/{model.onnx,manifest.json} (${r.bytes.length} bytes, sha256 ${r.manifest.sha256})`,
  ];
  return `${lines.join('\n')}\n`;
}

function formatStats(s: DetectionStats): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return `precision ${pct(s.precision)} recall ${pct(s.recall)} (tp ${s.truePositives} fp ${s.falsePositives} fn ${s.falseNegatives} tn ${s.trueNegatives})`;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `models:generate failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});

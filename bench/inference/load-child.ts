import { loadModelFile } from '../../models/manifest.js';
import { loadRuntimeFrom, modelConfig } from './agent-path.js';
import { type Backend, createBareSession } from './bare.js';

/**
 * One first model load in a fresh process, for the load-time figures:
 * `node load-child.js <native|wasm> <agent|bare> <manifest>` prints `{"ms": …}` on stdout.
 * The clock starts once this script's own modules are loaded (and, for the agent, its config
 * validated) and includes loading the onnxruntime package (and, for wasm, compiling its
 * WebAssembly) on both sides; the agent's includes its first manifest read and digest check.
 */
async function main(): Promise<void> {
  const [backend, subject, manifest] = process.argv.slice(2) as [Backend, 'agent' | 'bare', string];
  if (!['native', 'wasm'].includes(backend) || !['agent', 'bare'].includes(subject) || !manifest) {
    throw new Error('usage: load-child.js <native|wasm> <agent|bare> <manifest>');
  }
  if (subject === 'agent') {
    const cfg = modelConfig(manifest, backend, false); // the agent validates its config before loading
    const started = performance.now();
    const runtime = await loadRuntimeFrom(cfg);
    const ms = performance.now() - started;
    await runtime.close();
    process.stdout.write(`${JSON.stringify({ ms })}\n`);
  } else {
    // The bare side is handed the bytes, as in-process; reading them is not its job.
    const { bytes } = await loadModelFile(manifest);
    const started = performance.now();
    const session = await createBareSession(backend, bytes);
    const ms = performance.now() - started;
    await session.release();
    process.stdout.write(`${JSON.stringify({ ms })}\n`);
  }
}

await main();

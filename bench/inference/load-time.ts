import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadRuntimeFrom, modelConfig } from './agent-path.js';
import { type Backend, createBareSession } from './bare.js';
import type { BenchModel } from './models.js';
import type { Push } from './per-window.js';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./load-child.js', import.meta.url));
const BACKENDS: readonly Backend[] = ['native', 'wasm'];

/**
 * Load time in this process, where onnxruntime is already loaded and WebAssembly compiled:
 * `ModelRuntime.load` (manifest, file, digest check, session, input check, warm-up runs) and
 * a bare `InferenceSession.create` on the bytes, each closed again; alternating first.
 */
export async function measureWarmLoad(
  model: BenchModel,
  plan: { rounds: number },
  push: Push,
): Promise<void> {
  for (const backend of BACKENDS) {
    const cfg = modelConfig(model.manifestPath, backend, false);
    const agent = async () => {
      const started = performance.now();
      const runtime = await loadRuntimeFrom(cfg);
      const ms = performance.now() - started;
      await runtime.close();
      return ms;
    };
    const bare = async () => {
      const started = performance.now();
      const session = await createBareSession(backend, model.bytes);
      const ms = performance.now() - started;
      await session.release();
      return ms;
    };
    await agent(); // warm-up: the package loaded, WebAssembly compiled, the code paths run once
    await bare();
    for (let round = 0; round < plan.rounds; round++) {
      const order = round % 2 === 0 ? [agent, bare] : [bare, agent];
      const got = new Map<typeof agent, number>();
      for (const side of order) got.set(side, await side());
      push(`${model.key}_load_${backend}_ms`, got.get(agent) as number);
      push(`${model.key}_create_${backend}_bare_ms`, got.get(bare) as number);
    }
  }
}

/**
 * First load in a fresh Node process (load-child.ts), where loading the onnxruntime package
 * and, for wasm, compiling its WebAssembly fall on the first model. Each round spawns one child
 * per (backend, subject), the order rotated by one per round.
 */
export async function measureFirstLoad(
  model: BenchModel,
  plan: { rounds: number },
  push: Push,
): Promise<void> {
  const kinds = BACKENDS.flatMap((b) => (['agent', 'bare'] as const).map((s) => [b, s] as const));
  for (let round = 0; round < plan.rounds; round++) {
    for (let i = 0; i < kinds.length; i++) {
      const [backend, subject] = kinds[(round + i) % kinds.length] as (typeof kinds)[number];
      const { stdout } = await run(process.execPath, [CHILD, backend, subject, model.manifestPath], {
        timeout: 60_000,
      });
      const { ms } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { ms: number };
      const name = subject === 'agent' ? `first_load_${backend}_ms` : `first_create_${backend}_bare_ms`;
      push(`${model.key}_${name}`, ms);
    }
  }
}

import { batchedWindowsPerS, jobsOf, loadRuntime } from './agent-path.js';
import { type BenchModel, rawWindows } from './models.js';
import type { Push } from './per-window.js';

/** Windows queued at once: a backlog, e.g. after a burst of readings from many sensors. */
export const QUEUED = 512;
/** Most windows per call when batching: the pipeline's default for a batchable model. */
export const MAX_BATCH = 64;

/**
 * microbatch_gain: QUEUED windows pushed at once into a BatchRunner (native, inline session),
 * run as batches of up to MAX_BATCH versus one per call; windows per second over `bursts`
 * such backlogs, alternating which goes first each round.
 */
export async function measureMicrobatch(
  model: BenchModel,
  plan: { rounds: number; bursts: number },
  push: Push,
): Promise<void> {
  if (!model.batchable) throw new Error(`bench: ${model.id} has a fixed batch; micro-batching needs "N"`);
  const runtime = await loadRuntime(model.manifestPath, 'native', false);
  const jobs = jobsOf(rawWindows(model.windowSize, QUEUED));
  const side = async (maxBatch: number): Promise<number> => {
    const rates: number[] = [];
    for (let b = 0; b < plan.bursts; b++) {
      rates.push(await batchedWindowsPerS(runtime, model, jobs, QUEUED, maxBatch));
    }
    // Windows over total time: the harmonic mean of the bursts' rates.
    return rates.length / rates.reduce((n, r) => n + 1 / r, 0);
  };
  try {
    await side(MAX_BATCH); // warm-up: JIT, the arena grown to a full batch
    await side(1);
    for (let round = 0; round < plan.rounds; round++) {
      const order = round % 2 === 0 ? [MAX_BATCH, 1] : [1, MAX_BATCH];
      const got: Record<number, number> = {};
      for (const maxBatch of order) got[maxBatch] = await side(maxBatch);
      const batched = got[MAX_BATCH] ?? Number.NaN;
      const alone = got[1] ?? Number.NaN;
      push('microbatch_batched_windows_per_s', batched);
      push('microbatch_alone_windows_per_s', alone);
      push('microbatch_gain', batched / alone);
      process.stderr.write(
        `  microbatch round ${round + 1}: batched ${Math.round(batched)}, alone ${Math.round(alone)} windows/s\n`,
      );
    }
  } finally {
    await runtime.close();
  }
}

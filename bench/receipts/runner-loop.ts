import type { ModelRuntime } from '../../agent/infer/model-runtime.js';
import { BatchRunner } from '../../agent/pipeline/batch-runner.js';
import type { Window } from '../../agent/window/sliding-window.js';
import { openStores, processCpuUs, type ReceiptStores, recordJob } from './jobs.js';

export interface RunnerLoopRounds {
  /** Agent CPU per model call, µs, one figure per round. */
  withUs: number[];
  withoutUs: number[];
}

/**
 * A pipeline's BatchRunner calling the model with `rows` windows per call, back to back, and
 * nothing else on the loop — no MQTT, no decoding, no results — so each receipt is set against
 * the cheapest call there is; with rows 1, the worst case. Agent CPU per call, receipts on
 * (recordJob from the runner's `ran`, as Pipeline does) and off, alternating which goes first.
 * The difference is what a receipt costs in context: between model calls that evict its data
 * from the caches, with the group commits and retention flushes its timers cause.
 */
export async function measureRunnerLoop(
  model: ModelRuntime,
  rows: number,
  opts: { rounds: number; calls: number },
): Promise<RunnerLoopRounds> {
  const stores = await openStores();
  const out: RunnerLoopRounds = { withUs: [], withoutUs: [] };
  try {
    await loop(model, rows, stores, Math.ceil(opts.calls / 2));
    await loop(model, rows, undefined, Math.ceil(opts.calls / 2));
    for (let r = 0; r < opts.rounds; r++) {
      const order = r % 2 === 0 ? [stores, undefined] : [undefined, stores];
      for (const s of order) (s ? out.withUs : out.withoutUs).push(await loop(model, rows, s, opts.calls));
    }
  } finally {
    await stores.close();
  }
  return out;
}

/**
 * `calls` model calls of `rows` windows: each call's `ran` queues the next call's windows, so
 * the runner takes them as one batch, as it does under load.
 */
async function loop(
  model: ModelRuntime,
  rows: number,
  stores: ReceiptStores | undefined,
  calls: number,
): Promise<number> {
  const windows: Window[] = Array.from({ length: 64 }, (_, w) => ({
    sensor: 'bench',
    start: w,
    end: w + model.windowSize,
    values: Float32Array.from({ length: model.windowSize }, (_, i) => Math.sin((w * 3 + i) / 5)),
  }));
  let pushed = 0;
  let ran = 0;
  const push = () => {
    for (let i = 0; i < rows; i++)
      runner.push({ window: windows[pushed++ % windows.length] as Window, arrivedAt: 0 });
  };
  const runner: BatchRunner = new BatchRunner(
    { maxQueue: 2 * rows, maxBatch: rows, normalise: { mean: 0, std: 1 } },
    {
      model,
      events: {
        ran: (jobs, outputs, run) => {
          if (stores) recordJob(stores, run.input, jobs.length, outputs, run);
          if (++ran < calls) push();
        },
        failed: (_jobs, err) => {
          throw err;
        },
        dropped: () => undefined,
      },
    },
  );
  if (stores) await stores.flush();
  const started = processCpuUs();
  push();
  await runner.idle();
  if (stores) await stores.flush();
  return (processCpuUs() - started) / ran;
}

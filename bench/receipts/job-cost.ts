import type { ModelRuntime } from '../../agent/infer/model-runtime.js';
import { type JobSample, jobSamples, openStores, processCpuUs, recordJob, yieldToLoop } from './jobs.js';

/** Jobs between two turns of the event loop, so that group commits and flushes run as they would. */
const JOBS_PER_TURN = 16;
const SAMPLES = 64;

/**
 * receipt_isolated_us for one job shape: the CPU of recordJob (jobs.ts) alone, with the real
 * outbox and retention, job after job with the caches warm; the group commits and retention
 * flushes the jobs cause are inside the measurement. The code's own cost, a floor under what
 * a receipt costs between model calls (runner-loop.ts). Agent CPU per receipt, µs, per round.
 */
export async function measureJobCost(
  model: ModelRuntime,
  rows: number,
  opts: { rounds: number; jobs: number },
): Promise<number[]> {
  const samples = await jobSamples(model, rows, SAMPLES);
  const stores = await openStores();
  const out: number[] = [];
  try {
    await receipts(stores, samples, opts.jobs); // warm-up: JIT, leveldb's first writes
    for (let r = 0; r < opts.rounds; r++) out.push(await receipts(stores, samples, opts.jobs));
  } finally {
    await stores.close();
  }
  return out;
}

async function receipts(
  stores: Awaited<ReturnType<typeof openStores>>,
  samples: readonly JobSample[],
  jobs: number,
): Promise<number> {
  await stores.flush();
  const started = processCpuUs();
  for (let i = 0; i < jobs; i++) {
    const s = samples[i % samples.length] as JobSample;
    recordJob(stores, s.input, s.rows, s.outputs, { startTimeMs: Date.now(), computeTimeUs: 60 + (i % 50) });
    if (i % JOBS_PER_TURN === JOBS_PER_TURN - 1) await yieldToLoop();
  }
  await stores.flush();
  return (processCpuUs() - started) / jobs;
}

import pino from 'pino';
import { validateConfig } from '../../agent/config/load.js';
import type { ModelConfig } from '../../agent/config/schema.js';
import { ModelRuntime } from '../../agent/infer/model-runtime.js';
import { ModelSlot } from '../../agent/infer/model-slot.js';
import { type Postprocessed, postprocessRow } from '../../agent/infer/postprocess.js';
import { BatchRunner, type Job } from '../../agent/pipeline/batch-runner.js';
import type { Window } from '../../agent/window/sliding-window.js';
import type { Backend } from './bare.js';
import type { BenchModel } from './models.js';

const silent = pino({ level: 'silent' });

/**
 * A model entry as an agent config would have it, through the config's own schema and
 * validation: one intra-op thread, the memory arena and warm-up runs at their defaults.
 */
export function modelConfig(manifest: string, backend: Backend, worker: boolean): ModelConfig {
  const cfg = validateConfig(
    {
      log: { level: 'silent' },
      models: [{ id: 'bench-model', manifest, threads: 1, backend, worker }],
    },
    'bench-inference.yaml',
    { env: {} },
  );
  return cfg.models[0] as ModelConfig;
}

export function loadRuntime(manifest: string, backend: Backend, worker: boolean): Promise<ModelRuntime> {
  return loadRuntimeFrom(modelConfig(manifest, backend, worker));
}

/** `ModelRuntime.load` as the agent calls it, logging nowhere; for timing the load alone. */
export function loadRuntimeFrom(cfg: ModelConfig): Promise<ModelRuntime> {
  return ModelRuntime.load(cfg, { logger: silent });
}

/** Windows as the sliding window hands them over: raw readings, normalised by the runner. */
export function jobsOf(raw: readonly Float32Array[]): Job[] {
  return raw.map((values, w) => {
    const window: Window = { sensor: 'bench', start: w, end: w + values.length, values };
    return { window, arrivedAt: 0 };
  });
}

/** The model as a pipeline holds it: in a slot that could swap it (never does here). */
function slotOf(runtime: ModelRuntime): ModelSlot {
  return new ModelSlot(
    runtime,
    { probationCalls: 200, maxErrorRate: 0.02, maxLatencyRatio: 3 },
    { logger: silent },
  );
}

/**
 * `count` windows through the agent's inference path as a pipeline drives it: a BatchRunner
 * (normalisation, per model version, into its input buffer; the model slot; ModelRuntime.run),
 * then postprocessRow on every row of
 * the outputs. Each window is pushed once the previous one's results are out, so with
 * `maxBatch` 1 every call is one window. Wall time per window, µs.
 */
export async function agentPerWindowUs(
  runtime: ModelRuntime,
  model: BenchModel,
  jobs: readonly Job[],
  count: number,
): Promise<number> {
  let pushed = 0;
  let sink = 0;
  const runner: BatchRunner = new BatchRunner(
    { maxQueue: 2, maxBatch: 1, normalise: () => model.normalise },
    {
      model: slotOf(runtime),
      events: {
        ran: (ran, outputs) => {
          for (let row = 0; row < ran.length; row++)
            sink += scoreOf(postprocessRow(outputs, model.post, row));
          if (pushed < count) runner.push(jobs[pushed++ % jobs.length] as Job);
        },
        failed: (_jobs, err) => {
          throw err;
        },
        dropped: () => {
          throw new Error('bench: a window was dropped');
        },
      },
    },
  );
  const started = performance.now();
  runner.push(jobs[pushed++ % jobs.length] as Job);
  await runner.idle();
  const us = ((performance.now() - started) * 1000) / count;
  if (Number.isNaN(sink)) throw new Error('bench: the model gave a NaN score');
  return us;
}

/**
 * Micro-batching: `count` windows pushed at once into a runner taking up to `maxBatch` per
 * call, results postprocessed per row as they come; windows per second from the first push to
 * idle. The first window runs alone (the runner was idle), the rest wait and go in batches.
 */
export async function batchedWindowsPerS(
  runtime: ModelRuntime,
  model: BenchModel,
  jobs: readonly Job[],
  count: number,
  maxBatch: number,
): Promise<number> {
  let done = 0;
  let sink = 0;
  const runner = new BatchRunner(
    { maxQueue: count, maxBatch, normalise: () => model.normalise },
    {
      model: slotOf(runtime),
      events: {
        ran: (ran, outputs) => {
          for (let row = 0; row < ran.length; row++)
            sink += scoreOf(postprocessRow(outputs, model.post, row));
          done += ran.length;
        },
        failed: (_jobs, err) => {
          throw err;
        },
        dropped: () => {
          throw new Error('bench: a window was dropped');
        },
      },
    },
  );
  const started = performance.now();
  for (let i = 0; i < count; i++) runner.push(jobs[i % jobs.length] as Job);
  await runner.idle();
  const s = (performance.now() - started) / 1000;
  if (done !== count || Number.isNaN(sink)) throw new Error(`bench: ${done} of ${count} windows ran`);
  return count / s;
}

function scoreOf(p: Postprocessed): number {
  return (p.score ?? 0) + (p.anomaly ? 1 : 0);
}

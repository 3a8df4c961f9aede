import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../agent/config/load.js';
import { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import { BatchRunner, type Job } from '../../../agent/pipeline/batch-runner.js';
import { quietLogger } from '../../helpers/broker.js';
import { deferred, withTimeout } from '../../helpers/wait-for.js';

let model: ModelRuntime;

beforeAll(async () => {
  const cfg = validateConfig(
    {
      models: [{ id: 'vibration-ae', manifest: path.resolve('models/examples/vibration-ae/manifest.json') }],
      pipelines: [
        { id: 'p', model: 'vibration-ae', input: { topic: 'a/+/v', sensor: { from: 'level', level: 1 } } },
      ],
    },
    'test.yaml',
    { env: {} },
  );
  model = await ModelRuntime.load(cfg.models[0]!, { logger: quietLogger });
});
afterAll(async () => {
  await model?.close();
});

const job = (sensor: string): Job =>
  ({
    window: { sensor, values: new Float64Array(model.windowSize).fill(0.5) },
    arrivedAt: 0,
  }) as unknown as Job;

describe('BatchRunner', () => {
  it.each([1, 2, 3, 4, 5])(
    'runs a window pushed %i microtask hop(s) after the previous call finished',
    async (hops) => {
      const ran: string[] = [];
      const second = deferred<void>();
      const runner: BatchRunner = new BatchRunner(
        { maxQueue: 10, maxBatch: 8, normalise: { mean: 0, std: 1 } },
        {
          model,
          events: {
            ran: (jobs) => {
              for (const j of jobs) ran.push(j.window.sensor);
              if (ran.length === 1) {
                // Some hops after `ran`: around the drain loop's last look at the queue.
                const later = (n: number): void =>
                  n === 0 ? runner.push(job('late')) : queueMicrotask(() => later(n - 1));
                later(hops);
              } else second.resolve();
            },
            failed: (_jobs, err) => second.reject(err),
            dropped: () => undefined,
          },
        },
      );
      runner.push(job('first'));
      await withTimeout(second.promise, 'the late window to run', 5_000);
      expect(ran).toEqual(['first', 'late']);
    },
  );
});

describe('BatchRunner micro-batching under a latency bound (real onnxruntime)', () => {
  /**
   * Pushes `n` windows at once; resolves with the rows of every call, in order, and the batch
   * limit the runner computed right after each call (what the next call was cut to).
   */
  async function burst(
    init: { maxBatch: number; maxAddedLatencyUs?: number },
    n: number,
  ): Promise<{ calls: number[]; limits: number[] }> {
    const calls: number[] = [];
    const limits: number[] = [];
    const runner: BatchRunner = new BatchRunner(
      { maxQueue: n, normalise: { mean: 0, std: 1 }, ...init },
      {
        model,
        events: {
          ran: (jobs) => {
            calls.push(jobs.length);
            limits.push(runner.batchLimit());
          },
          failed: (_jobs, err) => {
            throw err;
          },
          dropped: () => undefined,
        },
      },
    );
    for (let i = 0; i < n; i++) runner.push(job(`s${i}`));
    await withTimeout(runner.idle(), `${n} windows to run`, 10_000);
    return { calls, limits };
  }

  it('runs a backlog in batches of up to maxBatch, every window once', async () => {
    const { calls } = await burst({ maxBatch: 16 }, 100);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(100);
    expect(calls[0]).toBe(1); // the runner was idle: the first window did not wait for others
    expect(Math.max(...calls)).toBe(16);
  });

  it('cuts each batch to 1 + bound / (measured time per window) windows', async () => {
    await burst({ maxBatch: 64 }, 200); // measures the model's time per window
    const boundUs = model.computeUs * 4.5;
    const { calls, limits } = await burst({ maxBatch: 64, maxAddedLatencyUs: boundUs }, 300);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(300);
    // Every call took no more windows than the limit computed when the previous call ended.
    calls.slice(1).forEach((rows, i) => {
      expect(rows, `call ${i + 1}`).toBeLessThanOrEqual(limits[i] as number);
    });
    expect(limits.at(-1)).toBe(Math.min(64, 1 + Math.floor(boundUs / model.computeUs)));
    expect(Math.max(...calls)).toBeLessThan(64);
  });

  it('runs every window alone with a bound of 0', async () => {
    const { calls } = await burst({ maxBatch: 64, maxAddedLatencyUs: 0 }, 50);
    expect(calls).toEqual(Array.from({ length: 50 }, () => 1));
  });
});

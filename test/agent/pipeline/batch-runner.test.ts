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

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../agent/config/load.js';
import { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import type { ModelOutputs } from '../../../agent/infer/postprocess.js';
import {
  BatchRunner,
  type Job,
  type RemoteLane,
  type RunInfo,
} from '../../../agent/pipeline/batch-runner.js';
import { quietLogger } from '../../helpers/broker.js';
import { withTimeout } from '../../helpers/wait-for.js';

/**
 * The runner's remote lane: windows go to "peers" — here a second onnxruntime session of the
 * same model, reached through the RemoteLane interface the offload client implements.
 */
let local: ModelRuntime;
let peer: ModelRuntime;

beforeAll(async () => {
  const cfg = validateConfig(
    {
      models: [{ id: 'vibration-ae', manifest: path.resolve('models/examples/vibration-ae/manifest.json') }],
    },
    'test.yaml',
    { env: {} },
  );
  local = await ModelRuntime.load(cfg.models[0]!, { logger: quietLogger });
  peer = await ModelRuntime.load(cfg.models[0]!, { logger: quietLogger });
});
afterAll(async () => {
  await local?.close();
  await peer?.close();
});

const job = (sensor: string, level: number): Job =>
  ({
    window: {
      sensor,
      values: Float64Array.from({ length: local.windowSize }, (_, i) => Math.sin(i + level)),
    },
    arrivedAt: 0,
  }) as unknown as Job;

interface Ran {
  sensor: string;
  score: number;
  provider: string | undefined;
}

function runner(model: ModelRuntime | null, remote: RemoteLane | undefined) {
  const ran: Ran[] = [];
  const failed: string[] = [];
  const r = new BatchRunner(
    { maxQueue: 1000, maxBatch: 8, normalise: { mean: 0, std: 1 } },
    {
      model,
      windowSize: local.windowSize,
      ...(remote ? { remote } : {}),
      events: {
        ran: (jobs: readonly Job[], outputs: ModelOutputs, run: RunInfo) => {
          const first = Object.values(outputs)[0]!;
          const width = first.data.length / jobs.length;
          jobs.forEach((j, row) => {
            ran.push({
              sensor: j.window.sensor,
              score: Number(first.data[row * width]),
              provider: run.provider,
            });
          });
        },
        failed: (jobs) => failed.push(...jobs.map((j) => j.window.sensor)),
        dropped: () => undefined,
      },
    },
  );
  return { r, ran, failed };
}

/** A lane to one peer with `slots` requests at once; `fail` makes it refuse every request. */
function lane(slots: number, wants: (busy: boolean, depth: number) => boolean, fail = false) {
  let inFlight = 0;
  let most = 0;
  const lane: RemoteLane = {
    wants,
    hasRoom: () => inFlight < slots,
    run: async (input, rows) => {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, 2));
        if (fail) throw new Error('no peer could take it');
        return { outputs: await peer.run(input, rows), computeUs: 100, provider: 'peer-1' };
      } finally {
        inFlight--;
      }
    },
  };
  return { lane, most: () => most };
}

describe('BatchRunner with peers', () => {
  it('gives offloaded windows the same results as local ones, and bounds requests in flight', async () => {
    const windows = Array.from({ length: 200 }, (_, i) => job(`s${i}`, i));
    const alone = runner(local, undefined);
    for (const w of windows) alone.r.push(w);
    await withTimeout(alone.r.idle(), 'local run');
    const shared = lane(3, (busy) => busy);
    const both = runner(local, shared.lane);
    for (const w of windows) both.r.push(w);
    await withTimeout(both.r.idle(), 'shared run');

    const bySensor = new Map(alone.ran.map((x) => [x.sensor, x.score]));
    expect(both.ran).toHaveLength(200);
    for (const x of both.ran) expect(x.score).toBe(bySensor.get(x.sensor));
    const remote = both.ran.filter((x) => x.provider === 'peer-1').length;
    expect(remote).toBeGreaterThan(0);
    expect(remote).toBeLessThan(200);
    expect(shared.most()).toBeLessThanOrEqual(3);
  });

  it('runs windows a peer could not take here, losing none', async () => {
    const broken = lane(2, () => true, true);
    const { r, ran, failed } = runner(local, broken.lane);
    for (let i = 0; i < 50; i++) r.push(job(`s${i}`, i));
    await withTimeout(r.idle(), 'fallback run');
    expect(failed).toEqual([]);
    expect(new Set(ran.map((x) => x.sensor)).size).toBe(50);
    expect(ran.every((x) => x.provider === undefined)).toBe(true);
  });

  it('without the model here, windows run only on peers, and fail visibly when none can', async () => {
    const ok = runner(null, lane(2, () => true).lane);
    for (let i = 0; i < 20; i++) ok.r.push(job(`s${i}`, i));
    await withTimeout(ok.r.idle(), 'peer-only run');
    expect(ok.ran).toHaveLength(20);
    expect(ok.ran.every((x) => x.provider === 'peer-1')).toBe(true);

    const none = runner(null, lane(2, () => true, true).lane);
    for (let i = 0; i < 5; i++) none.r.push(job(`s${i}`, i));
    await withTimeout(none.r.idle(), 'peer-only run, no peer');
    expect(none.failed.sort()).toEqual(['s0', 's1', 's2', 's3', 's4']);
  });
});

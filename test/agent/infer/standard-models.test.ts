import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRuntime, type RuntimeConfig } from '../../../agent/infer/model-runtime.js';
import { postprocessRow } from '../../../agent/infer/postprocess.js';
import { float32FromHalf, halfFromFloat32 } from '../../../models/float16.js';
import type { FieldmeshError } from '../../../protocol/errors.js';
import { outputBytes, type TensorLike } from '../../../protocol/tensors.js';
import { ModelRegistry } from '../../../settlement/spotcheck/registry.js';
import { quietLogger } from '../../helpers/broker.js';
import {
  classifierModel,
  classifierWeights,
  countsModel,
  type Fixture,
  featuresModel,
  halfPrecisionModel,
  misfitReshapeModel,
} from '../../models/standard-fixtures.js';

type Where = 'main thread' | 'worker' | 'wasm';
const WHERE: readonly Where[] = ['main thread', 'worker', 'wasm'];

let dir: string;
let half: Fixture;
let classifier: Fixture;
let counts: Fixture;
let misfit: Fixture;
let features: Fixture;

function cfg(id: string, f: Fixture, where: Where): RuntimeConfig {
  return {
    id,
    manifest: f.manifestPath,
    threads: 1,
    memoryArena: true,
    warmupRuns: 1,
    worker: where === 'worker',
    backend: where === 'wasm' ? 'wasm' : 'native',
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fm-standard-'));
  half = await halfPrecisionModel(dir);
  classifier = await classifierModel(dir);
  counts = await countsModel(dir);
  misfit = await misfitReshapeModel(dir);
  features = await featuresModel(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Windows of `width` readings: row r holds r + i / width. */
function windows(rows: number, width: number): Float32Array {
  return Float32Array.from({ length: rows * width }, (_, k) => Math.floor(k / width) + (k % width) / width);
}

describe.each(WHERE)('standard models on the %s', (where) => {
  it('runs a float16 model with a [batch, 1, time] input, reading its float16 score', async () => {
    const model = await ModelRuntime.load(cfg('half', half, where), { logger: quietLogger });
    try {
      expect(model.windowSize).toBe(16);
      const input = windows(3, 16);
      const out = await model.run(input, 3);
      expect(out.output?.type).toBe('float16');
      expect(out.output?.dims).toEqual([3]);
      const halfInput = float32FromHalf(halfFromFloat32(input));
      for (let r = 0; r < 3; r++) {
        const row = halfInput.subarray(r * 16, (r + 1) * 16);
        const meanSquare = row.reduce((a, v) => a + v * v, 0) / 16;
        const post = postprocessRow(out, { score: 'output', threshold: 2 }, r);
        expect(post.score).toBeCloseTo(meanSquare, meanSquare > 1 ? 1 : 2); // float16 keeps ~3 digits
        expect(post.anomaly).toBe(meanSquare > 2);
      }
    } finally {
      await model.close();
    }
  });

  it('feeds constant inputs beside the window and returns only the declared outputs', async () => {
    const model = await ModelRuntime.load(cfg('classifier', classifier, where), { logger: quietLogger });
    try {
      const input = windows(2, 12);
      const out = await model.run(input, 2);
      expect(Object.keys(out).sort()).toEqual(['label', 'probabilities', 'score']);
      expect(out.label?.data).toBeInstanceOf(BigInt64Array);
      const w = classifierWeights(12);
      for (let r = 0; r < 2; r++) {
        const row = Array.from(input.subarray(r * 12, (r + 1) * 12), (v) => 2 * v); // gain 2
        const logits = [0, 1, 2].map((c) => row.reduce((a, v, i) => a + v * (w[i * 3 + c] as number), 0));
        const post = postprocessRow(
          out,
          { score: 'score', threshold: 3.5, labels: ['even', 'odd', 'third'], labelOutput: 'probabilities' },
          r,
        );
        expect(post.score).toBeCloseTo(row.reduce((a, v) => a + v, 0) / 12 + 3, 4); // offset 3
        expect(post.labelIndex).toBe(logits.indexOf(Math.max(...logits)));
        expect(Number((out.label as { data: BigInt64Array }).data[r])).toBe(post.labelIndex);
      }
    } finally {
      await model.close();
    }
  });

  it('feeds raw integer counts to an int64 input with a fixed batch of one', async () => {
    const model = await ModelRuntime.load(cfg('counts', counts, where), { logger: quietLogger });
    try {
      expect(model.batchable).toBe(false);
      const out = await model.run(new Float32Array([100, 101, 102, 103.4, 104.6, 105, 106, 107]), 1);
      expect(Array.from(out.mean?.data as Float32Array)).toEqual([
        (100 + 101 + 102 + 103 + 105 + 105 + 106 + 107) / 8,
      ]);
    } finally {
      await model.close();
    }
  });
});

describe('a model trained on window features', () => {
  it('is fed one row of features per window, in the manifest order', async () => {
    const model = await ModelRuntime.load(cfg('features', features, 'main thread'), { logger: quietLogger });
    try {
      expect(model.windowSize).toBe(20); // readings per window, not features
      const input = windows(2, 20);
      const out = await model.run(input, 2);
      expect(out.score?.dims).toEqual([2, 1]);
      for (let r = 0; r < 2; r++) {
        const row = Array.from(input.subarray(r * 20, (r + 1) * 20));
        const mean = row.reduce((a, v) => a + v, 0) / 20;
        const std = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / 20);
        expect((out.score as unknown as { data: Float32Array }).data[r]).toBeCloseTo(std, 5);
      }
    } finally {
      await model.close();
    }
  });
});

async function threads(): Promise<number> {
  return (await readdir('/proc/self/task')).length;
}

describe('a model whose graph does not take the windows its manifest describes', () => {
  it('is refused at its first (warm-up) call, naming what was fed and what the manifest declares', async () => {
    const before = await threads();
    const err = await ModelRuntime.load(cfg('misfit', misfit, 'worker'), { logger: quietLogger }).catch(
      (e: unknown) => e,
    );
    expect((err as FieldmeshError).code).toBe('MODEL_RUN_FAILED');
    expect((err as Error).message).toMatch(
      /^model "misfit": onnxruntime refused the call: .+\. Fed "x" float32 \[1, 16\]; the manifest declares "x" float32 \["N", "T"\]$/,
    );
    const until = Date.now() + 3000;
    while ((await threads()) > before && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(await threads()).toBe(before); // the worker it started is gone
  });
});

describe('spot checks re-run standard models exactly as the agent ran them', () => {
  it.each(['half', 'classifier', 'counts'] as const)(
    'gives the same output bytes for the %s model',
    async (name) => {
      const fixture = { half, classifier, counts }[name];
      const agentModel = await ModelRuntime.load(cfg(name, fixture, 'main thread'), { logger: quietLogger });
      const { registry, problems } = await ModelRegistry.fromManifests([fixture.manifestPath], {
        logger: quietLogger,
      });
      try {
        expect(problems).toEqual([]);
        const rows = agentModel.batchable ? 3 : 1;
        const input = windows(rows, agentModel.windowSize);
        const ran = await agentModel.run(input, rows);
        const rerun = await registry.get(agentModel.sha256)!.run(input, rows);
        const bytes = (o: object) =>
          Buffer.from(outputBytes(o as Record<string, TensorLike>)).toString('hex');
        expect(bytes(rerun)).toBe(bytes(ran));
        expect(Object.keys(rerun).sort()).toEqual(Object.keys(ran).sort());
      } finally {
        await agentModel.close();
        await registry.close();
      }
    },
  );
});

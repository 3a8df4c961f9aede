/**
 * The committed example models, run in a real onnxruntime session the way the agent runs them:
 * readings normalised with the manifest's mean/std, windows batched, score against threshold.
 * Test data comes from seeds the generator never used.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVAL_FILE, evalData, evalDataText } from '../../../models/generate/eval-data.js';
import { combineStats, type DetectionStats, detectionStats } from '../../../models/generate/evaluate.js';
import { buildExample, EXAMPLES, manifestText } from '../../../models/generate/examples.js';
import {
  collectWindows,
  createSensorStream,
  type FaultType,
  type SensorKind,
  type SensorStreamOptions,
} from '../../../models/generate/synthetic.js';
import { type LoadedModel, loadModelFile } from '../../../models/manifest.js';
import { verifyLoadedModel } from '../../../models/signature.js';

const DIR = path.resolve(import.meta.dirname, '../../../models/examples');
const FRESH_SEED = 9_000_000;

interface Example {
  loaded: LoadedModel;
  session: ort.InferenceSession;
}

async function scores(ex: Example, raw: Float64Array, size: number): Promise<Float32Array> {
  const { mean, std } = ex.loaded.manifest.preprocessing.normalise;
  const input = Float32Array.from(raw, (v) => (v - mean) / std);
  const n = raw.length / size;
  const out = await ex.session.run({ window: new ort.Tensor('float32', input, [n, size]) });
  return out.score?.data as Float32Array;
}

async function evaluate(ex: Example, kind: SensorKind, fault: FaultType | undefined, streams: number) {
  const parts: DetectionStats[] = [];
  const all: { score: number; label: number }[] = [];
  for (let i = 0; i < streams; i++) {
    const options = {
      kind,
      seed: FRESH_SEED + i,
      ...(fault ? { fault: { type: fault, startAt: 1000 } } : {}),
    };
    const w = collectWindows(createSensorStream(options as SensorStreamOptions), 500, 32, 4);
    const s = await scores(ex, w.data, 32);
    parts.push(detectionStats(s, w.labels, ex.loaded.manifest.postprocessing.threshold ?? Number.NaN));
    s.forEach((score, k) => {
      all.push({ score, label: w.labels[k] as number });
    });
  }
  const mean = (label: number) => {
    const xs = all.filter((x) => x.label === label).map((x) => x.score);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  return { stats: combineStats(parts), meanNormal: mean(0), meanFaulty: mean(1) };
}

const examples = new Map<string, Example>();

beforeAll(async () => {
  for (const { id } of EXAMPLES) {
    const loaded = await loadModelFile(path.join(DIR, id, 'manifest.json'));
    verifyLoadedModel(loaded);
    examples.set(id, { loaded, session: await ort.InferenceSession.create(loaded.bytes) });
  }
});

afterAll(async () => {
  for (const ex of examples.values()) await ex.session.release();
});

const get = (id: string): Example => {
  const ex = examples.get(id);
  if (ex === undefined) throw new Error(`example ${id} did not load`);
  return ex;
};

describe('example models', () => {
  it('exist, match their manifests and declare a threshold and normalisation', () => {
    for (const ex of examples.values()) {
      const m = ex.loaded.manifest;
      expect(m.postprocessing.threshold).toBeGreaterThan(0);
      expect(m.preprocessing.window).toBe(32);
      expect(m.training?.precision).toBeGreaterThan(0.95);
      expect(m.training?.recall).toBeGreaterThan(0.9);
    }
  });

  it('vibration-ae rarely flags healthy machines', async () => {
    const { stats } = await evaluate(get('vibration-ae'), 'vibration', undefined, 4);
    expect(stats.falsePositives / stats.trueNegatives).toBeLessThan(0.01);
  });

  it.each(['spike', 'growth', 'bearing'] as const)(
    'vibration-ae detects a %s fault on unseen machines',
    async (fault) => {
      const { stats, meanNormal, meanFaulty } = await evaluate(get('vibration-ae'), 'vibration', fault, 3);
      expect(meanFaulty).toBeGreaterThan(5 * meanNormal);
      expect(stats.precision).toBeGreaterThan(0.95);
      expect(stats.recall).toBeGreaterThan(0.85);
    },
  );

  it('temperature-ae rarely flags healthy processes', async () => {
    const { stats } = await evaluate(get('temperature-ae'), 'temperature', undefined, 4);
    expect(stats.falsePositives / stats.trueNegatives).toBeLessThan(0.01);
  });

  it.each(['step', 'overheat'] as const)(
    'temperature-ae detects a %s fault on unseen processes',
    async (fault) => {
      const { stats, meanNormal, meanFaulty } = await evaluate(
        get('temperature-ae'),
        'temperature',
        fault,
        3,
      );
      expect(meanFaulty).toBeGreaterThan(5 * meanNormal);
      expect(stats.precision).toBeGreaterThan(0.95);
      expect(stats.recall).toBeGreaterThan(0.9);
    },
  );

  it('temperature-ae scores a stuck sensor LOW, as its description warns', async () => {
    const ex = get('temperature-ae');
    expect(ex.loaded.manifest.description).toMatch(/flatline.*scores LOW/);
    const { stats, meanNormal, meanFaulty } = await evaluate(ex, 'temperature', 'flatline', 2);
    expect(meanFaulty).toBeLessThan(meanNormal);
    expect(stats.recall).toBeLessThan(0.05);
  });

  it.each(['current-ae', 'pressure-ae'])('%s rarely flags healthy machines', async (id) => {
    const ex = get(id);
    const { stats } = await evaluate(ex, id === 'current-ae' ? 'current' : 'pressure', undefined, 4);
    expect(stats.falsePositives / stats.trueNegatives).toBeLessThan(0.01);
  });

  it.each([
    ['current-ae', 'current', 'overload'],
    ['current-ae', 'current', 'dropout'],
    ['current-ae', 'current', 'harmonics'],
    ['pressure-ae', 'pressure', 'leak'],
    ['pressure-ae', 'pressure', 'surge'],
    ['pressure-ae', 'pressure', 'stuck'],
  ] as const)('%s detects a %s %s fault on unseen machines', async (id, kind, fault) => {
    const { stats, meanNormal, meanFaulty } = await evaluate(get(id), kind, fault, 3);
    expect(meanFaulty).toBeGreaterThan(5 * meanNormal);
    expect(stats.precision).toBeGreaterThan(0.95);
    expect(stats.recall).toBeGreaterThan(0.85);
  });

  it('accepts any batch size on the dynamic N dimension', async () => {
    const ex = get('vibration-ae');
    const w = collectWindows(createSensorStream({ kind: 'vibration', seed: FRESH_SEED }), 5, 32, 32);
    const batch = await scores(ex, w.data, 32);
    const single = await scores(ex, w.data.slice(0, 32), 32);
    expect(batch).toHaveLength(5);
    expect(single).toHaveLength(1);
    expect(single[0]).toBeCloseTo(batch[0] as number, 6);
  });
});

describe('models:generate', () => {
  it.each(EXAMPLES.map((s) => [s.id, s] as const))(
    'rebuilds %s byte for byte from its seed',
    async (id, spec) => {
      const rebuilt = buildExample(spec);
      const committed = await readFile(path.join(DIR, id, 'model.onnx'));
      expect(Buffer.from(rebuilt.bytes).equals(committed)).toBe(true);
      expect(manifestText(rebuilt.manifest)).toBe(
        await readFile(path.join(DIR, id, 'manifest.json'), 'utf8'),
      );
    },
  );

  it.each(EXAMPLES.map((s) => [s.id, s] as const))(
    'rewrites the labelled eval data of %s byte for byte, and keeps it small',
    async (id, spec) => {
      const committed = await readFile(path.join(DIR, id, EVAL_FILE), 'utf8');
      expect(evalDataText(evalData(spec))).toBe(committed);
      expect(Buffer.byteLength(committed)).toBeLessThan(150_000);
    },
  );
});

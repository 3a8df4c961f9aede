/**
 * Detection quality of every shipped example model, measured on its shipped labelled data
 * (models/examples/<id>/eval.jsonl) and held against a plain rolling z-score on the same
 * windows: same labels (a window is faulty when it holds a faulty reading), same faults (the
 * manifest's training.evaluatedFaults), same threshold rule (the spec's quantile × margin on
 * the same held-out normal streams). The model runs in a real onnxruntime session, fed the way
 * the agent feeds it: readings normalised with the manifest's mean/std, score against threshold.
 * These are the figures docs/example-models.md quotes.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  cutWindows,
  EVAL_FILE,
  type EvalData,
  parseEvalData,
  windowStarts,
} from '../../models/generate/eval-data.js';
import { combineStats, type DetectionStats, detectionStats } from '../../models/generate/evaluate.js';
import { EXAMPLES } from '../../models/generate/examples.js';
import { ZSCORE_HISTORY, zscoreThreshold, zscoreWindowScores } from '../../models/generate/zscore.js';
import { type LoadedModel, loadModelFile } from '../../models/manifest.js';

const DIR = path.resolve(import.meta.dirname, '../../models/examples');
/** Every example folder: a new example is measured without touching this file. */
const IDS = (await readdir(DIR)).filter((d) => existsSync(path.join(DIR, d, 'manifest.json'))).sort();
/** So that a weak baseline cannot carry a weak model over the line. */
const FLOOR = 0.8;

interface Quality {
  readonly model: DetectionStats;
  readonly baseline: DetectionStats;
  readonly perFault: ReadonlyMap<string, { model: DetectionStats; baseline: DetectionStats }>;
  readonly baselineThreshold: number;
}

const f1 = (s: DetectionStats) =>
  s.precision + s.recall === 0 ? 0 : (2 * s.precision * s.recall) / (s.precision + s.recall);

async function modelScores(
  session: ort.InferenceSession,
  loaded: LoadedModel,
  windows: Float64Array,
): Promise<Float32Array> {
  const m = loaded.manifest;
  const { mean, std } = m.preprocessing.normalise;
  const width = m.preprocessing.window;
  const input = Float32Array.from(windows, (v) => (v - mean) / std);
  const feed = {
    [m.inputs[0]?.name ?? 'window']: new ort.Tensor('float32', input, [input.length / width, width]),
  };
  const out = await session.run(feed);
  return out[m.postprocessing.score ?? 'score']?.data as Float32Array;
}

async function measure(id: string, loaded: LoadedModel, data: EvalData): Promise<Quality> {
  const spec = EXAMPLES.find((s) => s.id === id);
  if (spec === undefined)
    throw new Error(`models/examples/${id} has no generator spec in models/generate/examples.ts`);
  const m = loaded.manifest;
  const { window, stride } = data.header;
  const threshold = m.postprocessing.threshold ?? Number.NaN;
  const baselineThreshold = zscoreThreshold(spec);
  const evaluated = m.training?.evaluatedFaults ?? [];
  const parts = new Map<string, { model: DetectionStats[]; baseline: DetectionStats[] }>();
  const session = await ort.InferenceSession.create(loaded.bytes);
  try {
    for (const stream of data.streams.filter((s) => evaluated.includes(s.fault))) {
      const starts = windowStarts(stream.values.length, window, stride, ZSCORE_HISTORY);
      const w = cutWindows(stream, starts, window);
      const scores = await modelScores(session, loaded, w.data);
      const z = zscoreWindowScores(stream.values, starts, window, ZSCORE_HISTORY);
      const p = parts.get(stream.fault) ?? { model: [], baseline: [] };
      p.model.push(detectionStats(scores, w.labels, threshold));
      p.baseline.push(detectionStats(z, w.labels, baselineThreshold));
      parts.set(stream.fault, p);
    }
  } finally {
    await session.release();
  }
  const perFault = new Map(
    [...parts].map(([f, p]) => [f, { model: combineStats(p.model), baseline: combineStats(p.baseline) }]),
  );
  const all = [...parts.values()];
  return {
    model: combineStats(all.flatMap((p) => p.model)),
    baseline: combineStats(all.flatMap((p) => p.baseline)),
    perFault,
    baselineThreshold,
  };
}

function report(id: string, q: Quality): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(6);
  const row = (name: string, s: { model: DetectionStats; baseline: DetectionStats }) =>
    `  ${name.padEnd(10)} model P ${pct(s.model.precision)} R ${pct(s.model.recall)} F1 ${f1(s.model).toFixed(3)}` +
    ` | z-score P ${pct(s.baseline.precision)} R ${pct(s.baseline.recall)} F1 ${f1(s.baseline).toFixed(3)}`;
  return [
    `${id} (z-score threshold ${q.baselineThreshold}, history ${ZSCORE_HISTORY})`,
    ...[...q.perFault].map(([f, s]) => row(f, s)),
    row('overall', q),
  ].join('\n');
}

describe('detection quality of the example models', () => {
  it('finds every example model, each with its labelled eval data', () => {
    expect(IDS.length).toBeGreaterThanOrEqual(4);
    for (const id of IDS) expect(existsSync(path.join(DIR, id, EVAL_FILE)), `${id}/${EVAL_FILE}`).toBe(true);
  });

  it.each(IDS)('%s beats a rolling z-score on its shipped eval data', async (id) => {
    const loaded = await loadModelFile(path.join(DIR, id, 'manifest.json'));
    const file = path.join(DIR, id, EVAL_FILE);
    const data = parseEvalData(await readFile(file, 'utf8'), file);
    expect(data.header.model).toBe(id);
    expect(data.header.window).toBe(loaded.manifest.preprocessing.window);
    const evaluated = loaded.manifest.training?.evaluatedFaults ?? [];
    expect(evaluated.length).toBeGreaterThan(0);
    const q = await measure(id, loaded, data);
    console.log(report(id, q));
    // Every fault the manifest claims is measured here, none silently skipped.
    expect([...q.perFault.keys()].sort()).toEqual([...evaluated].sort());
    expect(q.model.precision).toBeGreaterThanOrEqual(FLOOR);
    expect(q.model.recall).toBeGreaterThanOrEqual(FLOOR);
    expect(f1(q.model)).toBeGreaterThan(f1(q.baseline));
  });
});

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ModelConfig } from '../../../agent/config/schema.js';
import { type ModelOutputs, ModelRuntime, type RuntimeConfig } from '../../../agent/infer/model-runtime.js';
import { type PostprocessSpec, postprocessRow } from '../../../agent/infer/postprocess.js';
import { faultWindows, EXAMPLES as SPECS } from '../../../models/generate/examples.js';
import { FieldmeshError } from '../../../protocol/errors.js';
import { quietLogger } from '../../helpers/broker.js';
import { unknownOperatorBytes } from '../../models/standard-fixtures.js';

const EXAMPLES = path.resolve('models/examples');
/** Every example model folder: a new example is covered without touching this file. */
const MODEL_DIRS = (await readdir(EXAMPLES)).filter((d) =>
  existsSync(path.join(EXAMPLES, d, 'manifest.json')),
);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fm-wasm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function modelConfig(
  id: string,
  manifest: string,
  backend: ModelConfig['backend'],
  worker = false,
): RuntimeConfig {
  return { id, manifest, threads: 1, memoryArena: true, warmupRuns: 1, worker, backend };
}

/**
 * Windows as a pipeline would feed them: readings from the example's own synthetic sensor,
 * each fault it is evaluated on, half before and half after the fault starts, normalised with
 * the manifest's mean and std.
 */
function realisticWindows(m: ModelRuntime): { input: Float32Array; rows: number } {
  const spec = SPECS.find((s) => s.id === m.manifest.id);
  if (spec === undefined) throw new Error(`no generator spec for example "${m.manifest.id}"`);
  const { mean, std } = m.manifest.preprocessing?.normalise ?? { mean: 0, std: 1 };
  const picked: number[] = [];
  for (const [i, fault] of [...spec.detects, ...spec.alsoEvaluates].entries()) {
    const { data } = faultWindows(spec, fault, i);
    const count = data.length / spec.window;
    for (let w = 0; w < count; w += Math.floor(count / 24)) {
      for (let k = 0; k < spec.window; k++) picked.push(((data[w * spec.window + k] ?? 0) - mean) / std);
    }
  }
  return { input: Float32Array.from(picked), rows: picked.length / spec.window };
}

/** The postprocess spec a pipeline derives from the manifest (as agent/pipeline/pipeline.ts does). */
function postSpecOf(m: ModelRuntime): PostprocessSpec {
  const p = m.manifest.postprocessing;
  return {
    ...(p?.score === undefined ? {} : { score: p.score }),
    ...(p?.threshold === undefined ? {} : { threshold: p.threshold }),
    ...(p?.labels === undefined || p.labels.length === 0 ? {} : { labels: p.labels }),
    ...(p?.labelOutput === undefined ? {} : { labelOutput: p.labelOutput }),
  };
}

/** Largest |a-b| over every output value, after checking names, dims and the tolerance. */
function compareOutputs(native: ModelOutputs, wasm: ModelOutputs): number {
  expect(Object.keys(wasm).sort()).toEqual(Object.keys(native).sort());
  let worst = 0;
  for (const [name, a] of Object.entries(native)) {
    const b = wasm[name];
    expect(b?.dims, name).toEqual(a.dims);
    const av = Array.from(a.data as Float32Array);
    const bv = Array.from(b?.data as Float32Array);
    expect(bv.length, name).toBe(av.length);
    for (const [i, x] of av.entries()) {
      const diff = Math.abs(x - (bv[i] ?? Number.NaN));
      if (!(diff <= 1e-4 * Math.max(1, Math.abs(x)))) {
        expect.fail(`${name}[${i}]: native ${x}, wasm ${bv[i]} (|diff| ${diff})`);
      }
      worst = Math.max(worst, diff);
    }
  }
  return worst;
}

describe('the WebAssembly backend', () => {
  it('finds the example models', () => {
    expect(MODEL_DIRS.length).toBeGreaterThanOrEqual(2);
  });

  it.each(MODEL_DIRS)('gives %s the same outputs and decisions as the native backend', async (id) => {
    const manifest = path.join(EXAMPLES, id, 'manifest.json');
    const native = await ModelRuntime.load(modelConfig(id, manifest, 'native'), { logger: quietLogger });
    const wasm = await ModelRuntime.load(modelConfig(id, manifest, 'wasm'), { logger: quietLogger });
    try {
      expect([native.backend, wasm.backend]).toEqual(['native', 'wasm']);
      const { input, rows } = realisticWindows(native);
      const a = await native.run(input, rows);
      const b = await wasm.run(input, rows);
      expect(compareOutputs(a, b)).toBeLessThan(1e-4);
      const spec = postSpecOf(native);
      const decisions = (out: ModelOutputs) =>
        Array.from({ length: rows }, (_, row) => {
          const { anomaly, label } = postprocessRow(out, spec, row);
          return { anomaly, label };
        });
      const expected = decisions(a);
      // Both kinds of window are in the batch, so a backend that flips either would be caught.
      expect(expected.map((d) => d.anomaly)).toContain(true);
      expect(expected.map((d) => d.anomaly)).toContain(false);
      expect(decisions(b)).toEqual(expected);
      // One window at a time (how a lone pipeline calls it) agrees too.
      const one = input.subarray(0, wasm.windowSize);
      expect(compareOutputs(await native.run(one, 1), await wasm.run(one, 1))).toBeLessThan(1e-4);
      expect(wasm.stats).toEqual({ runs: 1 + 2, failures: 0 });
    } finally {
      await native.close();
      await wasm.close();
    }
  });

  it('keeps a WebAssembly session on the main thread even when worker: true', async () => {
    const manifest = path.join(EXAMPLES, MODEL_DIRS[0] ?? '', 'manifest.json');
    const m = await ModelRuntime.load(modelConfig('w', manifest, 'wasm', true), { logger: quietLogger });
    try {
      expect([m.backend, m.inWorker]).toEqual(['wasm', false]);
    } finally {
      await m.close();
    }
  });

  it('refuses a graph onnxruntime-web cannot run, saying which model and file', async () => {
    const bytes = unknownOperatorBytes();
    const base = JSON.parse(await readFile(path.join(EXAMPLES, 'vibration-ae', 'manifest.json'), 'utf8'));
    await writeFile(path.join(dir, 'garbage.onnx'), bytes);
    const manifest = path.join(dir, 'garbage.json');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await writeFile(manifest, JSON.stringify({ ...base, file: 'garbage.onnx', sha256 }));
    const err = await ModelRuntime.load(modelConfig('bad', manifest, 'wasm'), { logger: quietLogger }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FieldmeshError);
    expect((err as FieldmeshError).code).toBe('MODEL_LOAD_FAILED');
    expect((err as Error).message).toMatch(
      /model "bad" \(.*garbage\.onnx\): onnxruntime refused it: .*NoSuchOperator/,
    );
  });
});

describe('ModelRuntime on a machine without native onnxruntime', () => {
  it('runs backend: auto on WebAssembly and refuses backend: native before reading the model', async () => {
    vi.resetModules();
    vi.doMock('../../../agent/infer/native-backend.js', async (original) => ({
      ...(await original<object>()),
      nativeAvailable: async () => ({ available: false, reason: 'no build for 32-bit ARM (armv7)' }),
    }));
    try {
      const { ModelRuntime: Armv7Runtime } = await import('../../../agent/infer/model-runtime.js');
      const manifest = path.join(EXAMPLES, MODEL_DIRS[0] ?? '', 'manifest.json');
      const auto = await Armv7Runtime.load(modelConfig('a', manifest, 'auto'), { logger: quietLogger });
      expect(auto.backend).toBe('wasm');
      await auto.close();
      const missing = path.join(dir, 'never-read.json');
      const err = await Armv7Runtime.load(modelConfig('n', missing, 'native'), { logger: quietLogger }).catch(
        (e: unknown) => e,
      );
      expect((err as FieldmeshError).code).toBe('MODEL_BACKEND_UNAVAILABLE');
      expect((err as Error).message).toMatch(/model "n": .*armv7.*set backend: wasm/);
    } finally {
      vi.doUnmock('../../../agent/infer/native-backend.js');
      vi.resetModules();
    }
  });
});

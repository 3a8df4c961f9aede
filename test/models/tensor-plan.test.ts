import { describe, expect, it } from 'vitest';
import { FEATURE_NAMES, writeFeatures } from '../../models/features.js';
import { float32FromHalf, fromHalfBits, halfFromFloat32, toHalfBits } from '../../models/float16.js';
import { parseManifest } from '../../models/manifest.js';
import { TensorPlan } from '../../models/tensor-plan.js';

const BASE = {
  id: 'm',
  version: '1.0.0',
  description: '',
  file: 'm.onnx',
  sha256: 'a'.repeat(64),
  outputs: [{ name: 'score', type: 'float32', shape: ['N'] }],
  postprocessing: { score: 'score', threshold: 1 },
};

function manifest(inputs: unknown[], window = 4) {
  return parseManifest(
    { ...BASE, inputs, preprocessing: { window, normalise: { mean: 0, std: 1 } } },
    'm.json',
  );
}

function planOf(inputs: unknown[], window = 4): TensorPlan {
  return new TensorPlan('m', manifest(inputs, window));
}

describe('float16', () => {
  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [65504, 0x7bff],
    [65520, 0x7c00], // rounds up past the largest half: Infinity
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // a tie rounds to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // a tie rounds to even (up)
    [0, 0],
  ])('writes %d as 0x%s', (value, bits) => {
    expect(toHalfBits(value)).toBe(bits);
  });

  it('keeps NaN and the infinities, and reads every half back to the value it stands for', () => {
    expect(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN)))).toBe(true);
    expect(fromHalfBits(toHalfBits(Number.NEGATIVE_INFINITY))).toBe(Number.NEGATIVE_INFINITY);
    const wrong: string[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = fromHalfBits(bits);
      if (!Number.isNaN(v) && toHalfBits(v) !== bits) wrong.push(bits.toString(16));
    }
    expect(wrong).toEqual([]);
  });

  it('converts arrays both ways, rounding each value to the nearest half', () => {
    const half = halfFromFloat32(new Float32Array([0.5, 1 / 3, 1000.25]));
    expect(Array.from(float32FromHalf(half))).toEqual([0.5, 0.333251953125, 1000]);
  });
});

describe('TensorPlan: windows to tensors', () => {
  it.each([
    [['N', 4], [3, 4], true],
    [[1, 4], [1, 4], false],
    [[4], [4], false],
    [['T'], [4], false],
    [['batch', 1, 'time'], [3, 1, 4], true],
    [['N', 4, 1], [3, 4, 1], true],
    [['N', 'T'], [3, 4], true],
  ])('lays %j out as %j for 3 windows (batchable %s)', (shape, dims, batchable) => {
    const plan = planOf([{ name: 'x', type: 'float32', shape }]);
    expect(plan.batchable).toBe(batchable);
    expect(plan.width).toBe(4);
    expect(plan.dims(batchable ? 3 : 1)).toEqual(batchable ? dims : dims.map((d) => (d === 3 ? 1 : d)));
  });

  it('casts the window to the input type: float16 bits, float64, rounded int32 and int64', () => {
    const windows = new Float32Array([1.5, -2.5, 0.1, 7]);
    const feedOf = (type: string) => planOf([{ name: 'x', type, shape: [1, 4] }]).feeds(windows, 1)[0];
    expect(Array.from(feedOf('float16')!.data as Uint16Array)).toEqual([0x3e00, 0xc100, 0x2e66, 0x4700]);
    expect(Array.from(feedOf('float64')!.data as Float64Array)).toEqual(Array.from(windows));
    expect(Array.from(feedOf('int32')!.data as Int32Array)).toEqual([2, -3, 0, 7]);
    expect(Array.from(feedOf('int64')!.data as BigInt64Array)).toEqual([2n, -3n, 0n, 7n]);
    expect(feedOf('float32')!.data).toBe(windows);
  });

  it('fills the other inputs with zeros or constants, repeated per row when batched', () => {
    const plan = planOf([
      { name: 'x', type: 'float32', shape: ['N', 4] },
      { name: 'h0', type: 'float32', shape: ['N', 2], fill: 'zeros' },
      { name: 'scale', type: 'float32', shape: ['N', 2], fill: { constant: [1, 2] } },
      { name: 'k', type: 'int64', shape: [1], fill: { constant: 5 } },
    ]);
    const feeds = plan.feeds(new Float32Array(8), 2);
    expect(feeds.map((f) => [f.name, f.dims])).toEqual([
      ['x', [2, 4]],
      ['h0', [2, 2]],
      ['scale', [2, 2]],
      ['k', [1]],
    ]);
    expect(Array.from(feeds[1]!.data as Float32Array)).toEqual([0, 0, 0, 0]);
    expect(Array.from(feeds[2]!.data as Float32Array)).toEqual([1, 2, 1, 2]);
    expect(Array.from(feeds[3]!.data as BigInt64Array)).toEqual([5n]);
  });

  it('takes the window in the input marked fill: "window", wherever it is', () => {
    const plan = planOf([
      { name: 'mask', type: 'int64', shape: [1, 2], fill: { constant: 1 } },
      { name: 'x', type: 'float32', shape: [1, 4], fill: 'window' },
    ]);
    expect(plan.window.name).toBe('x');
    expect(plan.feeds(new Float32Array(4), 1).map((f) => f.name)).toEqual(['x', 'mask']);
  });

  it('refuses windows that are not rows × width values, saying how many it needs', () => {
    const plan = planOf([{ name: 'x', type: 'float32', shape: ['N', 4] }]);
    expect(() => plan.feeds(new Float32Array(7), 2)).toThrow('2 window(s) of 4 readings are 8 values, but 7');
  });

  it('refuses inputs it cannot lay windows into, naming the input, its shape and the fix', () => {
    expect(() => planOf([{ name: 'x', type: 'float32', shape: ['N', 'C', 'T'] }])).toThrow(
      /input "x" has shape \["N", "C", "T"\]: besides the batch, only one dimension may be left open/,
    );
    expect(() =>
      planOf([
        { name: 'x', type: 'float32', shape: ['N', 4] },
        { name: 's', type: 'float32', shape: ['N', 3], fill: { constant: [1, 2] } },
      ]),
    ).toThrow('input "s" ["N", 3] takes 3 value(s) per row, but its constant has 2; give one value or 3');
    expect(() =>
      planOf([
        { name: 'x', type: 'float32', shape: ['N', 4] },
        { name: 'h', type: 'float32', shape: ['N', 'H'], fill: 'zeros' },
      ]),
    ).toThrow(/input "h" has shape \["N", "H"\]; an input filled with "zeros" needs fixed sizes/);
  });
});

describe('manifest: how inputs are filled', () => {
  const problemsOf = (inputs: unknown[]) => {
    try {
      manifest(inputs);
      return [];
    } catch (err) {
      return (err as { problems: { path: string; expected: string }[] }).problems;
    }
  };

  it('asks how to fill every input but the window, naming the input', () => {
    const problems = problemsOf([
      { name: 'x', type: 'float32', shape: ['N', 4] },
      { name: 'h0', type: 'float32', shape: ['N', 2] },
    ]);
    expect(problems).toEqual([
      expect.objectContaining({ path: 'inputs[1].fill', expected: expect.stringContaining('input "h0"') }),
    ]);
  });

  it('refuses two window inputs, a type it cannot fill, and a fill of the wrong form', () => {
    expect(
      problemsOf([
        { name: 'a', type: 'float32', shape: ['N', 4], fill: 'window' },
        { name: 'b', type: 'float32', shape: ['N', 4], fill: 'window' },
      ]).map((p) => p.expected),
    ).toContain('one input with "fill": "window", not several');
    expect(problemsOf([{ name: 'x', type: 'string', shape: [1, 4] }]).map((p) => p.path)).toEqual([
      'inputs[0].type',
    ]);
    expect(
      problemsOf([
        { name: 'x', type: 'float32', shape: [1, 4] },
        { name: 'y', type: 'float32', shape: [1], fill: 'ones' },
      ]).map((p) => p.path),
    ).toEqual(['inputs[1].fill']);
  });

  it('holds preprocessing.window to the readings one row of the window input holds', () => {
    const problems = problemsOf([{ name: 'x', type: 'float32', shape: ['N', 2, 3] }]);
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'preprocessing.window',
        expected: expect.stringMatching(/^6, the values/),
      }),
    ]);
  });
});

describe('window features', () => {
  it('computes each feature of a window as documented', () => {
    const w = new Float32Array([1, 2, 3, 4, -6]);
    const names = FEATURE_NAMES; // every feature, in the documented order
    const out = new Float32Array(names.length + 1);
    writeFeatures(w, names, out, 1);
    const mean = 0.8;
    const m2 = [1, 2, 3, 4, -6].reduce((a, v) => a + (v - mean) ** 2, 0) / 5;
    const m3 = [1, 2, 3, 4, -6].reduce((a, v) => a + (v - mean) ** 3, 0) / 5;
    const m4 = [1, 2, 3, 4, -6].reduce((a, v) => a + (v - mean) ** 4, 0) / 5;
    const rms = Math.sqrt((1 + 4 + 9 + 16 + 36) / 5);
    // slope: Σ(i − 2)(x − x̄) / Σ(i − 2)² = (−2·1 − 1·2 + 0 + 1·4 + 2·(−6)) / 10
    const expected = [0, mean, Math.sqrt(m2), -6, 4, 10, rms, 6 / rms, m3 / m2 ** 1.5, m4 / m2 ** 2, -1.2];
    expected.forEach((v, i) => {
      expect(out[i], names[i - 1] ?? 'untouched').toBeCloseTo(v, 5);
    });
  });

  it('gives 0 for the moments of a flat window rather than NaN', () => {
    const out = new Float32Array(3);
    writeFeatures(new Float32Array(8).fill(2), ['skewness', 'kurtosis', 'std'], out, 0);
    expect(Array.from(out)).toEqual([0, 0, 0]);
  });

  it('lays one row of features per window into the window input', () => {
    const m = parseManifest(
      {
        ...BASE,
        inputs: [{ name: 'f', type: 'float32', shape: ['N', 2] }],
        preprocessing: { window: 4, features: ['mean', 'max'], normalise: { mean: 0, std: 1 } },
      },
      'm.json',
    );
    const plan = new TensorPlan('m', m);
    expect(plan.width).toBe(4);
    const [feed] = plan.feeds(new Float32Array([1, 2, 3, 4, 0, 0, 0, 8]), 2);
    expect(feed?.dims).toEqual([2, 2]);
    expect(Array.from(feed?.data as Float32Array)).toEqual([2.5, 4, 2, 8]);
  });

  it('refuses an input whose row does not hold one value per feature', () => {
    expect(() =>
      parseManifest(
        {
          ...BASE,
          inputs: [{ name: 'f', type: 'float32', shape: ['N', 3] }],
          preprocessing: { window: 4, features: ['mean', 'max'], normalise: { mean: 0, std: 1 } },
        },
        'm.json',
      ),
    ).toThrow(/preprocessing\.features: .*3 features, the values one row of input "f"/);
  });
});

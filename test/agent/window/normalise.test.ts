import { describe, expect, it } from 'vitest';
import { normaliseInto } from '../../../agent/window/normalise.js';

describe('normaliseInto', () => {
  it('computes (x - mean) / std into a new array', () => {
    const values = Float32Array.from([1, 2, 3, 4]);
    const out = normaliseInto(values, 2.5, 0.5);
    expect([...out]).toEqual([-3, -1, 1, 3]);
    expect(out).not.toBe(values);
    expect([...values]).toEqual([1, 2, 3, 4]);
  });

  it('writes into the given array and returns it', () => {
    const out = new Float32Array(3);
    expect(normaliseInto(Float32Array.from([10, 20, 30]), 20, 10, out)).toBe(out);
    expect([...out]).toEqual([-1, 0, 1]);
  });

  it('works in place', () => {
    const values = Float32Array.from([0, 5]);
    normaliseInto(values, 5, 5, values);
    expect([...values]).toEqual([-1, 0]);
  });

  it('leaves the tail of a longer output alone', () => {
    const out = Float32Array.from([9, 9, 9]);
    normaliseInto(Float32Array.from([1, 2]), 0, 1, out);
    expect([...out]).toEqual([1, 2, 9]);
  });

  it.each([0, 1e-15, -2, Number.NaN, Number.POSITIVE_INFINITY])(
    'only centres the values when std is %d (no Infinity or NaN reaches the model)',
    (std) => {
      const out = normaliseInto(Float32Array.from([1, 2, 3]), 2, std);
      expect([...out]).toEqual([-1, 0, 1]);
    },
  );

  it('treats a non-finite mean as 0', () => {
    expect([...normaliseInto(Float32Array.from([2, 4]), Number.NaN, 2)]).toEqual([1, 2]);
  });

  it('matches a plain division within float32 precision', () => {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 37.3);
    const out = normaliseInto(values, 1.7, 3.3);
    values.forEach((x, i) => {
      expect(out[i]).toBeCloseTo((x - 1.7) / 3.3, 5);
    });
  });

  it('refuses an output shorter than the window', () => {
    expect(() => normaliseInto(new Float32Array(4), 0, 1, new Float32Array(3))).toThrow(
      expect.objectContaining({ code: 'NORMALISE_OUT_TOO_SHORT' }),
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  combineStats,
  detectionStats,
  normalisationOf,
  normalise,
  quantile,
} from '../../../models/generate/evaluate.js';

describe('normalisation', () => {
  it('uses one mean and population std over all values', () => {
    const n = normalisationOf([1, 2, 3, 4]);
    expect(n.mean).toBe(2.5);
    expect(n.std).toBeCloseTo(Math.sqrt(1.25), 15);
    expect(Array.from(normalise([2.5, 2.5 + n.std], n))).toEqual([0, 1]);
  });

  it('refuses values with no spread', () => {
    expect(() => normalisationOf([3, 3, 3])).toThrow(/std is 0/);
  });
});

describe('quantile', () => {
  it('interpolates between order statistics, whatever the input order', () => {
    const xs = Array.from({ length: 101 }, (_, i) => 100 - i);
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.995)).toBeCloseTo(99.5, 12);
    expect(quantile([1, 2], 0.25)).toBe(1.25);
    expect(quantile(xs, 0)).toBe(0);
    expect(quantile(xs, 1)).toBe(100);
    expect(() => quantile([], 0.5)).toThrow(/no values/);
  });
});

describe('detectionStats', () => {
  it('counts flagged windows (score above the threshold) against labels', () => {
    const s = detectionStats([0.1, 0.9, 0.8, 0.2, 0.5], [0, 1, 0, 1, 1], 0.5);
    expect(s).toEqual({
      truePositives: 1,
      falsePositives: 1,
      falseNegatives: 2,
      trueNegatives: 1,
      precision: 0.5,
      recall: 1 / 3,
    });
  });

  it('counts nothing flagged as perfect precision and no faults as perfect recall', () => {
    expect(detectionStats([0.1], [1], 1)).toMatchObject({ precision: 1, recall: 0 });
    expect(detectionStats([2], [0], 1)).toMatchObject({ precision: 0, recall: 1 });
  });

  it('combines runs by summing counts, not by averaging ratios', () => {
    const a = detectionStats([1, 1, 1], [1, 1, 1], 0.5);
    const b = detectionStats([1], [0], 0.5);
    expect(combineStats([a, b])).toMatchObject({
      truePositives: 3,
      falsePositives: 1,
      precision: 0.75,
      recall: 1,
    });
  });
});

import { describe, expect, it } from 'vitest';
import { streamReadings, windowStarts } from '../../../models/generate/eval-data.js';
import { quantile } from '../../../models/generate/evaluate.js';
import {
  EXAMPLES,
  type ExampleSpec,
  streamSeed,
  thresholdByRule,
} from '../../../models/generate/examples.js';
import { ZSCORE_HISTORY, zscoreThreshold, zscoreWindowScores } from '../../../models/generate/zscore.js';

describe('zscoreWindowScores', () => {
  it('scores a window by its largest deviation from the mean and std of the readings before it', () => {
    // History 1, 2, 3, 4: mean 2.5, population std √1.25; the window is 2.5 and 5.
    const scores = zscoreWindowScores([1, 2, 3, 4, 2.5, 5], [4], 2, 4);
    expect(scores[0]).toBeCloseTo(2.5 / Math.sqrt(1.25), 12);
  });

  it('leaves the window out of its own mean and std, so a fault cannot hide by widening them', () => {
    const calm = [1, -1, 1, -1];
    expect(zscoreWindowScores([...calm, 100, 0], [4], 2, 4)[0]).toBe(100);
    // The next window's history holds the 100 and is now wide: the same excursion scores lower.
    expect(zscoreWindowScores([...calm, 100, 0, 100, 0], [6], 2, 4)[0]).toBeLessThan(3);
  });

  it('treats a history with no spread as infinitely tight', () => {
    expect(Array.from(zscoreWindowScores([3, 3, 3, 3, 3, 4], [4, 2], 2, 2))).toEqual([
      Number.POSITIVE_INFINITY,
      0,
    ]);
  });

  it('refuses a window without a full history behind it, or running past the end', () => {
    expect(() => zscoreWindowScores([1, 2, 3], [1], 1, 2)).toThrow(/window at 1 needs 2 readings before it/);
    expect(() => zscoreWindowScores([1, 2, 3], [2], 2, 2)).toThrow(/the stream has 3/);
    expect(ZSCORE_HISTORY).toBe(256);
  });
});

describe('zscoreThreshold', () => {
  it("applies the model's threshold rule to z-scores of the model's held-out normal streams", () => {
    const spec = EXAMPLES.find((s) => s.id === 'temperature-ae') as ExampleSpec;
    const length = spec.window + (spec.windowsPerStream - 1) * spec.stride;
    const scores: number[] = [];
    for (let i = 0; i < spec.heldOutStreams; i++) {
      const { values } = streamReadings(spec.kind, streamSeed(spec, 'heldOut', i), length);
      const starts = windowStarts(length, spec.window, spec.stride, ZSCORE_HISTORY);
      expect(starts[0]).toBe(ZSCORE_HISTORY);
      scores.push(...zscoreWindowScores(values, starts, spec.window));
    }
    const threshold = zscoreThreshold(spec);
    expect(threshold).toBe(thresholdByRule(spec, scores));
    expect(threshold).toBeCloseTo(quantile(scores, spec.thresholdQuantile) * spec.thresholdMargin, 4);
  });
});

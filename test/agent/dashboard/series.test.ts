import { describe, expect, it } from 'vitest';
import { POINTS_PER_CHART, ScoreSeries, scoreAxisMax } from '../../../agent/dashboard/web/series.js';

const point = (i: number, score = 0.1) => ({ ts: i, score, anomaly: score > 0.5, sensor: 's', seq: i });

describe('a chart series', () => {
  it('holds a bounded number of points however long the page stays open', () => {
    const s = new ScoreSeries();
    for (let i = 0; i < 100_000; i++) s.push(point(i), 0.5);
    expect(s.visible()).toHaveLength(POINTS_PER_CHART);
    expect(s.size).toBeLessThanOrEqual(POINTS_PER_CHART * 1.25);
    expect(s.visible().at(-1)?.seq).toBe(99_999);
    expect(s.visible()[0]?.seq).toBe(100_000 - POINTS_PER_CHART);
    expect(s.threshold).toBe(0.5);
  });

  it('replaces its points with a history in time order, newest kept', () => {
    const s = new ScoreSeries(3);
    s.reset([point(5), point(1), point(4), point(2)], 0.2);
    expect(s.visible().map((p) => p.seq)).toEqual([2, 4, 5]);
    expect(s.threshold).toBe(0.2);
  });

  it('keeps a score axis that shows the threshold and is not flattened by one outlier', () => {
    expect(scoreAxisMax([0.1, 0.2], 1)).toBe(1.5);
    expect(scoreAxisMax([0.1, 3], 1)).toBeCloseTo(3.3);
    expect(scoreAxisMax([0.1, 1e9], 1)).toBe(10);
    expect(scoreAxisMax([], null)).toBe(1);
    expect(scoreAxisMax([2, Number.NaN], null)).toBeCloseTo(2.2);
  });
});

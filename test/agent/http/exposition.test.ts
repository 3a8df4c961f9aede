import { describe, expect, it } from 'vitest';
import {
  Exposition,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  Histogram,
} from '../../../agent/http/exposition.js';
import { Ring } from '../../../agent/http/recent.js';

describe('Prometheus text exposition', () => {
  it('escapes backslash, quote and newline in label values, and only backslash and newline in HELP', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeHelp('a\\b"c\nd')).toBe('a\\\\b"c\\nd');
  });

  it('writes HELP and TYPE before the samples of each family, labels in order', () => {
    const text = new Exposition()
      .counter('x_total', 'Things.\nMore', [
        { labels: { pipeline: 'p"1', reason: 'bad' }, value: 3 },
        { labels: { pipeline: 'p2', reason: 'worse' }, value: 0 },
      ])
      .gauge('y', 'A gauge.', [{ value: 1.5 }])
      .text();
    expect(text.split('\n')).toEqual([
      '# HELP x_total Things.\\nMore',
      '# TYPE x_total counter',
      'x_total{pipeline="p\\"1",reason="bad"} 3',
      'x_total{pipeline="p2",reason="worse"} 0',
      '# HELP y A gauge.',
      '# TYPE y gauge',
      'y 1.5',
      '',
    ]);
  });

  it('formats special values the way Prometheus parses them', () => {
    expect([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.25].map(formatValue)).toEqual([
      'NaN',
      '+Inf',
      '-Inf',
      '0.25',
    ]);
  });

  it('writes cumulative buckets ending in +Inf equal to _count, then _sum and _count, per series', () => {
    const h = new Histogram('lat_seconds', 'Latency.', [0.001, 0.01, 0.1]);
    for (const v of [0.0005, 0.001, 0.005, 0.05, 0.5]) h.observe({ pipeline: 'a' }, v);
    h.observe({ pipeline: 'b' }, 0.02);
    const lines = new Exposition().histogram(h).text().trim().split('\n');
    expect(lines).toEqual([
      '# HELP lat_seconds Latency.',
      '# TYPE lat_seconds histogram',
      'lat_seconds_bucket{pipeline="a",le="0.001"} 2', // le is inclusive: 0.001 counts here
      'lat_seconds_bucket{pipeline="a",le="0.01"} 3',
      'lat_seconds_bucket{pipeline="a",le="0.1"} 4',
      'lat_seconds_bucket{pipeline="a",le="+Inf"} 5',
      'lat_seconds_sum{pipeline="a"} 0.5565',
      'lat_seconds_count{pipeline="a"} 5',
      'lat_seconds_bucket{pipeline="b",le="0.001"} 0',
      'lat_seconds_bucket{pipeline="b",le="0.01"} 0',
      'lat_seconds_bucket{pipeline="b",le="0.1"} 1',
      'lat_seconds_bucket{pipeline="b",le="+Inf"} 1',
      'lat_seconds_sum{pipeline="b"} 0.02',
      'lat_seconds_count{pipeline="b"} 1',
    ]);
  });

  it('refuses bucket bounds that do not ascend', () => {
    expect(() => new Histogram('h', 'h', [0.1, 0.1])).toThrow(/ascend/);
  });
});

describe('Ring', () => {
  it('keeps the newest entries only, newest first', () => {
    const ring = new Ring<number>(3);
    expect(ring.newest(10)).toEqual([]);
    for (const n of [1, 2, 3, 4, 5]) ring.push(n);
    expect(ring.newest(10)).toEqual([5, 4, 3]);
    expect(ring.newest(2)).toEqual([5, 4]);
  });
});

import { describe, expect, it } from 'vitest';
import { SlidingWindows, type WindowRules } from '../../../agent/window/sliding-window.js';

const RULES: WindowRules = { size: 3, stride: 1, maxGapMs: 1000, staleMs: 60_000, maxSensors: 3 };

function windowsOf(rules: Partial<WindowRules> = {}): SlidingWindows {
  return new SlidingWindows({ ...RULES, ...rules });
}

function values(w: SlidingWindows, sensor: string, ts: number, v: number[]): number[][] {
  return w.push(sensor, ts, v).windows.map((x) => [...x.values]);
}

describe('SlidingWindows: duplicates and order', () => {
  it('rejects a reading with the last accepted ts as duplicate, without inserting it', () => {
    const w = windowsOf();
    w.push('s', 100, [1]);
    w.push('s', 200, [2]);
    expect(w.push('s', 200, [99])).toEqual({ windows: [], rejected: 'duplicate', gapReset: false });
    expect(values(w, 's', 300, [3])).toEqual([[1, 2, 3]]);
  });

  it('rejects an older reading as out_of_order, without inserting it (windows stay causal)', () => {
    const w = windowsOf();
    w.push('s', 100, [1]);
    w.push('s', 300, [3]);
    expect(w.push('s', 200, [2])).toEqual({ windows: [], rejected: 'out_of_order', gapReset: false });
    expect(w.push('s', 50, [0]).rejected).toBe('out_of_order');
    expect(values(w, 's', 400, [4])).toEqual([[1, 3, 4]]);
  });

  it('judges order per sensor', () => {
    const w = windowsOf();
    w.push('a', 500, [1]);
    expect(w.push('b', 100, [1]).rejected).toBeNull();
    expect(w.push('a', 100, [1]).rejected).toBe('out_of_order');
  });

  it('keeps comparing with the last accepted ts, not with the rejected one', () => {
    const w = windowsOf();
    w.push('s', 100, [1]);
    w.push('s', 50, [0]); // out of order, ignored
    expect(w.push('s', 60, [0]).rejected).toBe('out_of_order');
    expect(w.push('s', 101, [2]).rejected).toBeNull();
  });
});

describe('SlidingWindows: gaps', () => {
  it('restarts the buffer after a silence longer than maxGapMs', () => {
    const w = windowsOf();
    w.push('s', 0, [1]);
    w.push('s', 100, [2]);
    const after = w.push('s', 100 + 1001, [10]);
    expect(after).toEqual({ windows: [], rejected: null, gapReset: true });
    expect(values(w, 's', 1200, [11])).toEqual([]);
    expect(values(w, 's', 1300, [12])).toEqual([[10, 11, 12]]);
  });

  it('does not restart at exactly maxGapMs', () => {
    const w = windowsOf();
    w.push('s', 0, [1]);
    w.push('s', 1000, [2]);
    const out = w.push('s', 2000, [3]);
    expect(out.gapReset).toBe(false);
    expect(out.windows.map((x) => [...x.values])).toEqual([[1, 2, 3]]);
  });

  it('reports the reset alongside windows the same reading completes', () => {
    const w = windowsOf({ size: 2 });
    w.push('s', 0, [1, 2]);
    const out = w.push('s', 5000, [7, 8]);
    expect(out.gapReset).toBe(true);
    expect(out.windows.map((x) => [x.start, x.end, ...x.values])).toEqual([[5000, 5000, 7, 8]]);
  });

  it('restarts the stride count too: the next window needs size fresh samples', () => {
    const w = windowsOf({ size: 2, stride: 2 });
    w.push('s', 0, [1, 2, 3]); // window [1,2]; one sample towards the next
    w.push('s', 10_000, [4]); // gap: [4]
    expect(values(w, 's', 10_001, [5])).toEqual([[4, 5]]);
  });
});

describe('SlidingWindows: sensor limit, sweep and reset', () => {
  it('rejects a new sensor when maxSensors are tracked, but keeps serving the known ones', () => {
    const w = windowsOf();
    for (const s of ['a', 'b', 'c']) w.push(s, 1, [1]);
    expect(w.sensorCount).toBe(3);
    expect(w.push('d', 1, [1])).toEqual({ windows: [], rejected: 'sensor_limit', gapReset: false });
    expect(w.sensorCount).toBe(3);
    expect(w.push('a', 2, [2]).rejected).toBeNull();
  });

  it('evicts sensors silent for staleMs or more and returns how many', () => {
    const w = windowsOf({ staleMs: 1000 });
    w.push('a', 0, [1]);
    w.push('b', 500, [1]);
    w.push('c', 900, [1]);
    expect(w.sweep(999)).toBe(0);
    expect(w.sweep(1000)).toBe(1); // a: exactly staleMs
    expect(w.sensorCount).toBe(2);
    expect(w.sweep(1900)).toBe(2);
    expect(w.sensorCount).toBe(0);
  });

  it('frees room for new sensors by sweeping', () => {
    const w = windowsOf({ staleMs: 100 });
    for (const s of ['a', 'b', 'c']) w.push(s, 0, [1]);
    w.push('c', 200, [1]);
    expect(w.push('d', 200, [1]).rejected).toBe('sensor_limit');
    expect(w.sweep(200)).toBe(2);
    expect(w.push('d', 200, [1]).rejected).toBeNull();
  });

  it('measures staleness on the receive clock when given, not on payload timestamps', () => {
    const w = windowsOf({ staleMs: 1000 });
    // Sensor clock in uptime milliseconds; the agent clock in epoch milliseconds.
    w.push('uptime', 5_000, [1], 1_700_000_000_000);
    expect(w.sweep(1_700_000_000_500)).toBe(0);
    expect(w.sweep(1_700_000_001_000)).toBe(1);
  });

  it('does not count rejected readings as signs of life', () => {
    const w = windowsOf({ staleMs: 1000 });
    w.push('s', 100, [1], 0);
    w.push('s', 100, [1], 900); // duplicate
    w.push('s', 50, [1], 950); // out of order
    expect(w.sweep(1000)).toBe(1);
  });

  it('starts a forgotten sensor afresh, so an older clock (a rebooted sensor) is accepted', () => {
    const w = windowsOf({ staleMs: 1000 });
    w.push('s', 50_000, [1, 2], 0);
    expect(w.push('s', 10, [3], 10).rejected).toBe('out_of_order');
    w.sweep(2000);
    expect(w.push('s', 10, [3], 2000).rejected).toBeNull();
    expect(values(w, 's', 20, [4, 5])).toEqual([[3, 4, 5]]);
  });

  it('forgets one sensor or all of them on reset', () => {
    const w = windowsOf();
    w.push('a', 100, [1, 2]);
    w.push('b', 100, [1]);
    w.reset('a');
    expect(w.sensorCount).toBe(1);
    expect(w.push('a', 50, [7]).rejected).toBeNull(); // no memory of ts 100
    expect(values(w, 'a', 60, [8, 9])).toEqual([[7, 8, 9]]);
    w.reset('unknown');
    expect(w.sensorCount).toBe(2);
    w.reset();
    expect(w.sensorCount).toBe(0);
  });
});

describe('SlidingWindows: unusable readings', () => {
  it('rejects an empty reading as wrong_length', () => {
    const w = windowsOf();
    expect(w.push('s', 1, []).rejected).toBe('wrong_length');
    expect(w.sensorCount).toBe(0);
  });

  it('rejects a non-finite ts as non_finite', () => {
    const w = windowsOf();
    expect(w.push('s', Number.NaN, [1]).rejected).toBe('non_finite');
    expect(w.push('s', Number.POSITIVE_INFINITY, [1]).rejected).toBe('non_finite');
    expect(w.sensorCount).toBe(0);
  });

  it('rejects a reading with any non-finite sample whole, inserting none of it', () => {
    const w = windowsOf();
    w.push('s', 1, [1]);
    expect(w.push('s', 2, [2, Number.NaN, 3]).rejected).toBe('non_finite');
    expect(w.push('s', 2, [Number.NEGATIVE_INFINITY]).rejected).toBe('non_finite');
    expect(values(w, 's', 2, [2, 3])).toEqual([[1, 2, 3]]); // ts 2 is still free: nothing was taken
  });
});

import { describe, expect, it } from 'vitest';
import { SlidingWindows, type Window, type WindowRules } from '../../../agent/window/sliding-window.js';

const RULES: WindowRules = { size: 4, stride: 2, maxGapMs: 1000, staleMs: 60_000, maxSensors: 100 };

function windowsOf(rules: Partial<WindowRules> = {}): SlidingWindows {
  return new SlidingWindows({ ...RULES, ...rules });
}

/** Pushes one sample per reading, ts = 100·i, value = i; returns every window as plain arrays. */
function feed(w: SlidingWindows, from: number, to: number, sensor = 's'): number[][] {
  const out: number[][] = [];
  for (let i = from; i <= to; i++) {
    for (const win of w.push(sensor, i * 100, [i]).windows) out.push([...win.values]);
  }
  return out;
}

describe('SlidingWindows: rules', () => {
  it.each<[Partial<WindowRules>, string]>([
    [{ size: 0 }, 'window.size is 0'],
    [{ size: 2.5 }, 'window.size is 2.5'],
    [{ size: Number.NaN }, 'window.size is NaN'],
    [{ stride: 0 }, 'window.stride is 0'],
    [{ stride: 1.5 }, 'window.stride'],
    [{ maxGapMs: 0 }, 'window.maxGapMs is 0'],
    [{ maxGapMs: Number.NaN }, 'window.maxGapMs'],
    [{ staleMs: -1 }, 'window.staleMs is -1'],
    [{ maxSensors: 0 }, 'window.maxSensors is 0'],
  ])('refuses %o with WINDOW_RULES_INVALID', (rules, message) => {
    expect(() => windowsOf(rules)).toThrow(expect.objectContaining({ code: 'WINDOW_RULES_INVALID' }));
    expect(() => windowsOf(rules)).toThrow(message);
  });

  it('refuses a missing size (e.g. a spread config that overwrote it with undefined)', () => {
    expect(() => windowsOf({ size: undefined as unknown as number })).toThrow('window.size is undefined');
  });

  it('accepts Infinity for maxGapMs and staleMs (never restart, never forget)', () => {
    const w = windowsOf({ maxGapMs: Number.POSITIVE_INFINITY, staleMs: Number.POSITIVE_INFINITY, size: 2 });
    w.push('s', 0, [1]);
    expect(w.push('s', 1e12, [2]).gapReset).toBe(false);
    expect(w.sweep(1e15)).toBe(0);
  });

  it('freezes a copy of its rules', () => {
    const rules = { ...RULES };
    const w = new SlidingWindows(rules);
    rules.size = 99;
    expect(w.rules.size).toBe(4);
    expect(Object.isFrozen(w.rules)).toBe(true);
  });
});

describe('SlidingWindows: size and stride', () => {
  it('emits the first window when size samples have arrived, then every stride samples', () => {
    expect(feed(windowsOf(), 1, 9)).toEqual([
      [1, 2, 3, 4],
      [3, 4, 5, 6],
      [5, 6, 7, 8],
    ]);
  });

  it('emits on every sample with stride 1', () => {
    expect(feed(windowsOf({ size: 3, stride: 1 }), 1, 5)).toEqual([
      [1, 2, 3],
      [2, 3, 4],
      [3, 4, 5],
    ]);
  });

  it('skips samples between windows when stride > size (subsampling)', () => {
    expect(feed(windowsOf({ size: 2, stride: 3 }), 1, 9)).toEqual([
      [1, 2],
      [4, 5],
      [7, 8],
    ]);
  });

  it('emits every sample as a window with size 1', () => {
    expect(feed(windowsOf({ size: 1, stride: 1 }), 1, 3)).toEqual([[1], [2], [3]]);
  });

  it('emits non-overlapping windows with stride = size', () => {
    expect(feed(windowsOf({ size: 3, stride: 3 }), 1, 10)).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ]);
  });

  it('gives start and end as the timestamps of the first and last sample', () => {
    const w = windowsOf();
    const wins: Window[] = [];
    for (let i = 1; i <= 6; i++) wins.push(...w.push('s', 1000 + i * 10, [i]).windows);
    expect(wins.map((x) => [x.sensor, x.start, x.end])).toEqual([
      ['s', 1010, 1040],
      ['s', 1030, 1060],
    ]);
  });

  it('hands out fresh Float32Array copies the caller may modify', () => {
    const w = windowsOf({ size: 2, stride: 1 });
    w.push('s', 1, [1]);
    const first = w.push('s', 2, [2]).windows[0]!;
    first.values.fill(-1);
    const second = w.push('s', 3, [3]).windows[0]!;
    expect(second.values).toBeInstanceOf(Float32Array);
    expect([...second.values]).toEqual([2, 3]);
    expect(second.values.buffer).not.toBe(first.values.buffer);
  });

  it('stores samples as float32', () => {
    const w = windowsOf({ size: 1 });
    expect(w.push('s', 1, [0.1]).windows[0]!.values[0]).toBe(Math.fround(0.1));
  });

  it('takes number arrays, Float64Arrays and Float32Arrays alike', () => {
    const w = windowsOf({ size: 3, stride: 3 });
    w.push('s', 1, [1]);
    w.push('s', 2, new Float64Array([2]));
    expect([...w.push('s', 3, new Float32Array([3])).windows[0]!.values]).toEqual([1, 2, 3]);
  });
});

describe('SlidingWindows: multi-sample payloads', () => {
  it('appends every sample of a payload in order, all with the payload ts', () => {
    const w = windowsOf({ size: 4, stride: 4 });
    expect(w.push('s', 100, [1, 2]).windows).toEqual([]);
    const [win] = w.push('s', 200, [3, 4]).windows;
    expect(win).toEqual({ sensor: 's', start: 100, end: 200, values: Float32Array.from([1, 2, 3, 4]) });
  });

  it('emits every window a payload makes due, oldest first, when it crosses several strides', () => {
    const w = windowsOf({ size: 4, stride: 2 });
    const out = w.push('s', 100, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(out.windows.map((x) => [...x.values])).toEqual([
      [1, 2, 3, 4],
      [3, 4, 5, 6],
      [5, 6, 7, 8],
      [7, 8, 9, 10],
    ]);
    expect(out.windows.every((x) => x.start === 100 && x.end === 100)).toBe(true);
  });

  it('handles a payload far longer than the ring (wrapping several times)', () => {
    const w = windowsOf({ size: 3, stride: 2 });
    w.push('s', 1, [0]);
    const values = Array.from({ length: 20 }, (_, i) => i + 1);
    const wins = w.push('s', 2, values).windows;
    // Samples 0..20 in total; windows after samples 3, 5, …, 21 (ending at values 2, 4, …, 20).
    expect(wins.map((x) => [...x.values])).toEqual(
      Array.from({ length: 10 }, (_, k) => [2 * k, 2 * k + 1, 2 * k + 2]),
    );
    expect(wins[0]).toMatchObject({ start: 1, end: 2 });
    expect(wins[1]).toMatchObject({ start: 2, end: 2 });
  });

  it('continues the stride count across payloads', () => {
    const w = windowsOf({ size: 2, stride: 3 });
    expect(w.push('s', 1, [1, 2]).windows).toHaveLength(1); // after sample 2
    expect(w.push('s', 2, [3, 4]).windows).toHaveLength(0);
    expect([...w.push('s', 3, [5, 6]).windows[0]!.values]).toEqual([4, 5]); // after sample 5
  });
});

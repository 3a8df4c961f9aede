import { describe, expect, it } from 'vitest';
import { SlidingWindows, type WindowRules } from '../../../agent/window/sliding-window.js';
import { createRng } from '../../../models/prng.js';

/** A seeded generator (the project's own), so a failure reproduces. */
function random(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng.next();
}

interface Emitted {
  sensor: string;
  start: number;
  end: number;
  values: number[];
}

/**
 * The documented semantics written the slow, obvious way: every sample since the last restart
 * kept in a growing list, windows cut with slice().
 */
class NaiveWindows {
  private readonly sensors = new Map<string, { samples: { v: number; ts: number }[]; lastTs: number }>();

  constructor(private readonly rules: WindowRules) {}

  push(
    sensor: string,
    ts: number,
    values: number[],
  ): { windows: Emitted[]; rejected: string | null; gapReset: boolean } {
    let state = this.sensors.get(sensor);
    let gapReset = false;
    if (state === undefined) {
      if (this.sensors.size >= this.rules.maxSensors)
        return { windows: [], rejected: 'sensor_limit', gapReset };
      state = { samples: [], lastTs: ts };
      this.sensors.set(sensor, state);
    } else {
      if (ts === state.lastTs) return { windows: [], rejected: 'duplicate', gapReset };
      if (ts < state.lastTs) return { windows: [], rejected: 'out_of_order', gapReset };
      if (ts - state.lastTs > this.rules.maxGapMs) {
        state.samples = [];
        gapReset = true;
      }
    }
    state.lastTs = ts;
    const windows: Emitted[] = [];
    for (const v of values) {
      state.samples.push({ v: Math.fround(v), ts });
      const n = state.samples.length;
      const { size, stride } = this.rules;
      if (n >= size && (n - size) % stride === 0) {
        const cut = state.samples.slice(n - size);
        windows.push({ sensor, start: cut[0]!.ts, end: cut[size - 1]!.ts, values: cut.map((s) => s.v) });
      }
    }
    return { windows, rejected: null, gapReset };
  }
}

function scenario(seed: number, rules: WindowRules, pushes: number): { windows: number; rejects: number } {
  const next = random(seed);
  const fast = new SlidingWindows(rules);
  const slow = new NaiveWindows(rules);
  const clocks = new Map<string, number>();
  let windows = 0;
  let rejects = 0;
  for (let i = 0; i < pushes; i++) {
    const sensor = `s${Math.floor(next() * 5)}`;
    const last = clocks.get(sensor) ?? 1_700_000_000_000;
    const roll = next();
    // Mostly steady readings; some duplicates, some late, some after an outage.
    let step = 1 + Math.floor(next() * 40);
    if (roll < 0.05) step = 0;
    else if (roll < 0.1) step = -1 - Math.floor(next() * 50);
    else if (roll < 0.13) step = rules.maxGapMs + 1;
    else if (roll < 0.15) step = rules.maxGapMs; // the boundary: no restart
    const ts = last + step;
    const count = next() < 0.7 ? 1 : 1 + Math.floor(next() * 3 * rules.size);
    const values = Array.from({ length: count }, () => (next() - 0.5) * 1000);
    const got = fast.push(sensor, ts, values);
    const want = slow.push(sensor, ts, values);
    expect(
      { ...got, windows: got.windows.map((w) => ({ ...w, values: [...w.values] })) },
      `push ${i}`,
    ).toEqual(want);
    if (want.rejected === null) clocks.set(sensor, ts);
    windows += want.windows.length;
    if (want.rejected !== null) rejects++;
  }
  return { windows, rejects };
}

describe('SlidingWindows against a naive reference (seeded random readings)', () => {
  it.each<[number, Partial<WindowRules>]>([
    [1, { size: 8, stride: 1 }],
    [2, { size: 8, stride: 3 }],
    [3, { size: 5, stride: 5 }],
    [4, { size: 3, stride: 7 }],
    [5, { size: 1, stride: 1 }],
    [6, { size: 32, stride: 4 }],
    [7, { size: 13, stride: 2, maxSensors: 3 }],
  ])('seed %i, %o: identical windows, rejections and resets over 3,000 readings', (seed, partial) => {
    const rules: WindowRules = {
      size: 8,
      stride: 1,
      maxGapMs: 500,
      staleMs: 1e9,
      maxSensors: 10,
      ...partial,
    };
    const { windows, rejects } = scenario(seed, rules, 3000);
    // The run must actually wrap the rings many times and hit every rejection path.
    expect(windows).toBeGreaterThan(100);
    expect(rejects).toBeGreaterThan(100);
  });
});

import { describe, expect, it } from 'vitest';
import { SensorStreamOptionsError } from '../../../models/errors.js';
import {
  collectWindows,
  createSensorStream,
  type SensorStreamOptions,
} from '../../../models/generate/synthetic.js';
import { createRng } from '../../../models/prng.js';
import { mean, power, rms, take } from './signal.js';

describe('prng', () => {
  it('repeats for a seed, differs across seeds, and stays in range', () => {
    const a = createRng(42);
    const b = createRng(42);
    const seqA = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 100 }, () => createRng(43).next())).not.toEqual(seqA);
    expect(createRng(2 ** 32 + 1).next()).not.toBe(createRng(1).next());
    expect(seqA.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(() => createRng(0.5)).toThrow(/integer/);
  });

  it('draws normals with mean 0 and std 1, and integers below n', () => {
    const rng = createRng(7);
    const xs = Array.from({ length: 20_000 }, () => rng.normal());
    expect(Math.abs(mean(xs))).toBeLessThan(0.03);
    expect(Math.abs(rms(xs) - 1)).toBeLessThan(0.03);
    const ints = new Set(Array.from({ length: 1000 }, () => rng.int(5)));
    expect([...ints].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('createSensorStream', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const values = (o: SensorStreamOptions) => take(createSensorStream(o), 500).map((r) => r.value);
    expect(values({ kind: 'vibration', seed: 1 })).toEqual(values({ kind: 'vibration', seed: 1 }));
    expect(values({ kind: 'vibration', seed: 1 })).not.toEqual(values({ kind: 'vibration', seed: 2 }));
    expect(values({ kind: 'temperature', seed: 1 })).toEqual(values({ kind: 'temperature', seed: 1 }));
  });

  it('next() gives the same values as nextReading() and counts readings', () => {
    const a = createSensorStream({ kind: 'temperature', seed: 3 });
    const b = createSensorStream({ kind: 'temperature', seed: 3 });
    expect(Array.from({ length: 10 }, () => a.next())).toEqual(take(b, 10).map((r) => r.value));
    expect(a.index).toBe(10);
    expect(b.nextReading().index).toBe(10);
  });

  it('produces plausible healthy readings', () => {
    const vib = take(createSensorStream({ kind: 'vibration', seed: 4 }), 4000).map((r) => r.value);
    expect(rms(vib)).toBeGreaterThan(0.6);
    expect(rms(vib)).toBeLessThan(1);
    // Energy at the shaft rate (about 1/16 cycles per sample) dominates a far-off frequency.
    expect(power(vib, 1 / 16)).toBeGreaterThan(50 * power(vib, 0.31));
    const temp = take(createSensorStream({ kind: 'temperature', seed: 4 }), 4000).map((r) => r.value);
    expect(Math.min(...temp)).toBeGreaterThan(56);
    expect(Math.max(...temp)).toBeLessThan(64);
  });

  it.each([
    ['vibration', 'spike'],
    ['vibration', 'growth'],
    ['vibration', 'bearing'],
    ['temperature', 'step'],
    ['temperature', 'overheat'],
    ['temperature', 'flatline'],
    ['current', 'overload'],
    ['current', 'dropout'],
    ['current', 'harmonics'],
    ['pressure', 'leak'],
    ['pressure', 'surge'],
    ['pressure', 'stuck'],
  ] as const)('a %s stream with a %s fault matches the healthy one until the fault starts', (kind, type) => {
    const healthy = take(createSensorStream({ kind, seed: 9 } as SensorStreamOptions), 300);
    const faulty = take(
      createSensorStream({ kind, seed: 9, fault: { type, startAt: 300 } } as SensorStreamOptions),
      300,
    );
    expect(faulty).toEqual(healthy);
    expect(faulty.some((r) => r.faulty)).toBe(false);
  });

  it('injects rare, large spikes and labels exactly those readings', () => {
    const readings = take(
      createSensorStream({ kind: 'vibration', seed: 5, fault: { type: 'spike', startAt: 1000 } }),
      6000,
    );
    const spikes = readings.filter((r) => r.faulty);
    expect(spikes.every((r) => r.index >= 1000)).toBe(true);
    expect(spikes.length / 5000).toBeGreaterThan(0.01);
    expect(spikes.length / 5000).toBeLessThan(0.035);
    const others = readings.filter((r) => !r.faulty).map((r) => Math.abs(r.value));
    expect(mean(spikes.map((r) => Math.abs(r.value)))).toBeGreaterThan(2.5 * mean(others));
  });

  it('grows the amplitude to about 2.5× once the growth fault has developed', () => {
    const readings = take(
      createSensorStream({ kind: 'vibration', seed: 6, fault: { type: 'growth', startAt: 1000 } }),
      2000,
    );
    const before = rms(readings.slice(500, 1000).map((r) => r.value));
    const after = rms(readings.slice(1300, 1800).map((r) => r.value));
    expect(after / before).toBeGreaterThan(2);
    expect(after / before).toBeLessThan(3);
    expect(readings.slice(1000).every((r) => r.faulty)).toBe(true);
  });

  it('adds high-frequency ringing for a bearing fault', () => {
    const readings = take(
      createSensorStream({ kind: 'vibration', seed: 7, fault: { type: 'bearing', startAt: 1000 } }),
      2200,
    );
    const before = readings.slice(0, 1000).map((r) => r.value);
    const after = readings.slice(1200, 2200).map((r) => r.value);
    expect(power(after, 0.31)).toBeGreaterThan(20 * power(before, 0.31));
  });

  it('steps the temperature up by about 6 °C, and an overheat climbs up to 25 °C above normal', () => {
    const step = take(
      createSensorStream({ kind: 'temperature', seed: 8, fault: { type: 'step', startAt: 1000 } }),
      1100,
    );
    const jump =
      mean(step.slice(1000, 1050).map((r) => r.value)) - mean(step.slice(950, 1000).map((r) => r.value));
    expect(jump).toBeGreaterThan(5);
    expect(jump).toBeLessThan(7);
    const hot = take(
      createSensorStream({ kind: 'temperature', seed: 8, fault: { type: 'overheat', startAt: 100 } }),
      1200,
    );
    expect(hot[599]?.value).toBeGreaterThan(75);
    expect(Math.max(...hot.map((r) => r.value))).toBeLessThan(60.5 + 2.1 + 25 + 0.6);
  });

  it('repeats the last good reading when the sensor is stuck', () => {
    const readings = take(
      createSensorStream({ kind: 'temperature', seed: 9, fault: { type: 'flatline', startAt: 400 } }),
      600,
    );
    const last = readings[399]?.value;
    expect(readings.slice(400).every((r) => r.value === last && r.faulty)).toBe(true);
  });

  it('refuses a fault of the other kind of sensor and a negative start', () => {
    const wrong = {
      kind: 'vibration',
      seed: 1,
      fault: { type: 'flatline', startAt: 0 },
    } as unknown as SensorStreamOptions;
    expect(() => createSensorStream(wrong)).toThrow(SensorStreamOptionsError);
    expect(() => createSensorStream(wrong)).toThrow(
      /fault "flatline" does not apply to vibration sensors; use one of spike, growth, bearing/,
    );
    expect(() =>
      createSensorStream({ kind: 'temperature', seed: 1, fault: { type: 'step', startAt: -1 } }),
    ).toThrow(/startAt must be an integer ≥ 0/);
    const leakOnCurrent = { kind: 'current', seed: 1, fault: { type: 'leak', startAt: 0 } };
    expect(() => createSensorStream(leakOnCurrent as unknown as SensorStreamOptions)).toThrow(
      /fault "leak" does not apply to current sensors; use one of overload, dropout, harmonics/,
    );
  });
});

describe('collectWindows', () => {
  it('slides by the stride, overlapping when the stride is shorter than the window', () => {
    const values = take(createSensorStream({ kind: 'temperature', seed: 2 }), 100).map((r) => r.value);
    const w = collectWindows(createSensorStream({ kind: 'temperature', seed: 2 }), 5, 8, 3);
    expect(w.data.length).toBe(40);
    for (let k = 0; k < 5; k++)
      expect(Array.from(w.data.subarray(k * 8, k * 8 + 8))).toEqual(values.slice(3 * k, 3 * k + 8));
  });

  it('skips readings when the stride is longer than the window', () => {
    const values = take(createSensorStream({ kind: 'vibration', seed: 2 }), 100).map((r) => r.value);
    const w = collectWindows(createSensorStream({ kind: 'vibration', seed: 2 }), 3, 4, 10);
    expect(Array.from(w.data.subarray(4, 8))).toEqual(values.slice(10, 14));
    expect(Array.from(w.data.subarray(8, 12))).toEqual(values.slice(20, 24));
  });

  it('labels the windows that hold a faulty reading', () => {
    const stream = createSensorStream({ kind: 'temperature', seed: 2, fault: { type: 'step', startAt: 20 } });
    const w = collectWindows(stream, 6, 8, 4);
    // Windows start at 0, 4, 8, 12, 16, 20 and end 7 later: 12..19 stops short of the fault, 16..23 holds it.
    expect(Array.from(w.labels)).toEqual([0, 0, 0, 0, 1, 1]);
    expect(() => collectWindows(stream, 1, 8, 0)).toThrow(/stride 0/);
  });
});

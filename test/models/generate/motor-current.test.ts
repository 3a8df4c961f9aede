import { describe, expect, it } from 'vitest';
import { createSensorStream } from '../../../models/generate/synthetic.js';
import { power, rms, take } from './signal.js';

describe('motor current sensor', () => {
  it('produces a plausible motor current: two mains cycles per 32 readings, small harmonics', () => {
    const amps = take(createSensorStream({ kind: 'current', seed: 4 }), 4000).map((r) => r.value);
    // A 10 A (±5%) peak sine has an RMS near 7.1 A.
    expect(rms(amps)).toBeGreaterThan(6.3);
    expect(rms(amps)).toBeLessThan(7.9);
    expect(power(amps, 1 / 16)).toBeGreaterThan(200 * power(amps, 5 / 16));
    expect(power(amps, 3 / 16)).toBeGreaterThan(power(amps, 0.2));
  });

  it('overloads a motor to about 1.7× its current', () => {
    const healthy = take(createSensorStream({ kind: 'current', seed: 6 }), 2000).map((r) => r.value);
    const readings = take(
      createSensorStream({ kind: 'current', seed: 6, fault: { type: 'overload', startAt: 1000 } }),
      2000,
    );
    const ratio = rms(readings.slice(1300, 2000).map((r) => r.value)) / rms(healthy.slice(1300, 2000));
    expect(ratio).toBeGreaterThan(1.6);
    expect(ratio).toBeLessThan(1.8);
    expect(readings.slice(1000).every((r) => r.faulty)).toBe(true);
  });

  it('drops the phase for whole mains cycles and labels exactly those readings', () => {
    const readings = take(
      createSensorStream({ kind: 'current', seed: 7, fault: { type: 'dropout', startAt: 1000 } }),
      5000,
    );
    const dropped = readings.filter((r) => r.faulty);
    expect(dropped.every((r) => r.index >= 1000 && Math.abs(r.value) < 1.5)).toBe(true);
    expect(dropped.length / 4000).toBeGreaterThan(0.1);
    expect(dropped.length / 4000).toBeLessThan(0.4);
    // Runs of dropped readings last one to three cycles of 16 readings.
    const runs = readings
      .map((r) => (r.faulty ? '1' : '0'))
      .join('')
      .match(/1+/g);
    expect(runs?.slice(0, -1).every((run) => [16, 32, 48].includes(run.length))).toBe(true);
    const live = readings.filter((r) => !r.faulty).map((r) => r.value);
    expect(rms(live)).toBeGreaterThan(6);
  });

  it('adds 5th and 7th harmonics at about the same RMS current', () => {
    const healthy = take(createSensorStream({ kind: 'current', seed: 8 }), 2000).map((r) => r.value);
    const distorted = take(
      createSensorStream({ kind: 'current', seed: 8, fault: { type: 'harmonics', startAt: 1000 } }),
      2000,
    ).map((r) => r.value);
    const [h, d] = [healthy.slice(1200), distorted.slice(1200)];
    expect(power(d, 5 / 16)).toBeGreaterThan(20 * power(h, 5 / 16));
    expect(power(d, 7 / 16)).toBeGreaterThan(20 * power(h, 7 / 16));
    expect(rms(d) / rms(h)).toBeLessThan(1.06);
  });
});

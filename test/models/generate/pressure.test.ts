import { describe, expect, it } from 'vitest';
import { createSensorStream } from '../../../models/generate/synthetic.js';
import { take } from './signal.js';

describe('pneumatic pressure sensor', () => {
  it('cycles a pneumatic cylinder between vented and the supply pressure about every 48 readings', () => {
    const bar = take(createSensorStream({ kind: 'pressure', seed: 4 }), 4800).map((r) => r.value);
    expect(Math.min(...bar)).toBeGreaterThan(0);
    expect(Math.max(...bar)).toBeLessThan(6.5);
    const rises = bar.filter((x, i) => i > 0 && (bar[i - 1] as number) < 3 && x >= 3).length;
    expect(rises).toBeGreaterThanOrEqual(93);
    expect(rises).toBeLessThanOrEqual(104);
  });

  it('sags the held pressure of a leaking cylinder, and stays in the normal range', () => {
    const healthy = take(createSensorStream({ kind: 'pressure', seed: 5 }), 2000).map((r) => r.value);
    const leak = take(
      createSensorStream({ kind: 'pressure', seed: 5, fault: { type: 'leak', startAt: 1000 } }),
      2000,
    );
    const after = leak.slice(1300).map((r) => r.value);
    expect(Math.max(...after)).toBeLessThan(Math.max(...healthy.slice(1300)) - 0.5);
    expect(Math.min(...after)).toBeGreaterThan(0);
    expect(leak.slice(1000).every((r) => r.faulty)).toBe(true);
  });

  it('injects rare pressure surges of 2 to 4 bar, labelled', () => {
    const readings = take(
      createSensorStream({ kind: 'pressure', seed: 6, fault: { type: 'surge', startAt: 1000 } }),
      6000,
    );
    const surges = readings.filter((r) => r.faulty);
    expect(surges.every((r) => r.index >= 1000)).toBe(true);
    expect(surges.length / 5000).toBeGreaterThan(0.008);
    expect(surges.length / 5000).toBeLessThan(0.025);
    const lone = surges.filter((r) => !readings[r.index - 1]?.faulty && !readings[r.index + 1]?.faulty);
    for (const r of lone) {
      const around = ((readings[r.index - 1]?.value ?? 0) + (readings[r.index + 1]?.value ?? 0)) / 2;
      expect(r.value - around).toBeGreaterThan(1);
    }
  });

  it('repeats the last good pressure when the transmitter is stuck', () => {
    const readings = take(
      createSensorStream({ kind: 'pressure', seed: 9, fault: { type: 'stuck', startAt: 400 } }),
      600,
    );
    const last = readings[399]?.value;
    expect(readings.slice(400).every((r) => r.value === last && r.faulty)).toBe(true);
  });
});

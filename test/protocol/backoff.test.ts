import { describe, expect, it } from 'vitest';
import { createRng } from '../../models/prng.js';
import { backoffCeilingMs, backoffPolicyProblem, reconnectDelayMs } from '../../protocol/backoff.js';

/** A seeded generator (the project's own), so a failure reproduces. */
function seeded(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng.next();
}

const policy = { minMs: 500, maxMs: 30_000 };

describe('reconnect backoff', () => {
  it('doubles the ceiling per attempt from 2·minMs and stops at maxMs', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffCeilingMs(a, policy))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('treats attempts below 1 as the first and survives huge attempt numbers', () => {
    expect(backoffCeilingMs(0, policy)).toBe(1000);
    expect(backoffCeilingMs(-3, policy)).toBe(1000);
    expect(backoffCeilingMs(1_000_000, policy)).toBe(30_000);
    expect(backoffCeilingMs(Number.NaN, policy)).toBe(1000);
    expect(reconnectDelayMs(Number.MAX_SAFE_INTEGER, policy, () => 0.999_999)).toBe(30_000);
  });

  it('spans exactly [minMs, ceiling] across the random range', () => {
    expect(reconnectDelayMs(3, policy, () => 0)).toBe(500);
    expect(reconnectDelayMs(3, policy, () => 0.999_999_999)).toBe(4000);
    expect(reconnectDelayMs(3, policy, () => 0.5)).toBe(2250);
  });

  it('keeps every delay within bounds even for a random source outside [0, 1)', () => {
    expect(reconnectDelayMs(2, policy, () => -1)).toBe(500);
    expect(reconnectDelayMs(2, policy, () => 7)).toBe(2000);
    expect(reconnectDelayMs(2, policy, () => Number.NaN)).toBeGreaterThanOrEqual(500);
  });

  it('gives whole milliseconds within [minMs, ceiling] for many seeded draws', () => {
    const random = seeded(42);
    for (let attempt = 1; attempt <= 12; attempt++) {
      for (let i = 0; i < 500; i++) {
        const d = reconnectDelayMs(attempt, policy, random);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(policy.minMs);
        expect(d).toBeLessThanOrEqual(backoffCeilingMs(attempt, policy));
      }
    }
  });

  it('jitters: the same seed repeats, different seeds spread the fleet out', () => {
    const run = (seed: number) => {
      const random = seeded(seed);
      return [1, 2, 3, 4, 5, 6].map((a) => reconnectDelayMs(a, policy, random));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    // At a capped attempt the draws cover the range rather than clumping at one value.
    const random = seeded(1);
    const draws = Array.from({ length: 2000 }, () => reconnectDelayMs(10, policy, random));
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(mean).toBeGreaterThan(14_000);
    expect(mean).toBeLessThan(16_500);
    expect(Math.min(...draws)).toBeLessThan(2000);
    expect(Math.max(...draws)).toBeGreaterThan(28_000);
  });

  it('grows on average with the attempt number until the cap', () => {
    const random = seeded(99);
    const meanAt = (attempt: number) =>
      Array.from({ length: 1000 }, () => reconnectDelayMs(attempt, policy, random)).reduce(
        (a, b) => a + b,
        0,
      ) / 1000;
    const means = [1, 2, 3, 4, 5].map(meanAt);
    for (let i = 1; i < means.length; i++) expect(means[i]!).toBeGreaterThan(means[i - 1]!);
  });

  it('with minMs = maxMs always waits exactly that long', () => {
    const flat = { minMs: 250, maxMs: 250 };
    const random = seeded(3);
    for (let a = 1; a < 20; a++) expect(reconnectDelayMs(a, flat, random)).toBe(250);
  });

  it('explains an unusable policy', () => {
    expect(backoffPolicyProblem(policy)).toBeNull();
    expect(backoffPolicyProblem({ minMs: 0, maxMs: 10 })).toMatch(/minMs is 0/);
    expect(backoffPolicyProblem({ minMs: 100, maxMs: 50 })).toMatch(/maxMs is 50.*≥ minMs \(100\)/);
    expect(backoffPolicyProblem({ minMs: 1.5, maxMs: 50 })).toMatch(/minMs/);
  });
});

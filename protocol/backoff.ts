/**
 * Reconnect delays: exponential growth with "full jitter" (Brooker, "Exponential Backoff And
 * Jitter", AWS Architecture Blog, 2015), floored at `minMs`. Pure: the random source comes in,
 * so a fleet of agents that lost the same broker spreads its reconnects out, and tests can seed it.
 */

export interface BackoffPolicy {
  /** Shortest delay, and the base the ceiling doubles from. */
  readonly minMs: number;
  /** Longest delay; the ceiling stops growing here. */
  readonly maxMs: number;
}

/** Uniform in [0, 1), like Math.random. */
export type RandomSource = () => number;

/** Doubling past 2^40 ms (35 years) changes nothing; capping keeps the arithmetic exact. */
const MAX_EXPONENT = 40;

/** What is wrong with `policy`, or null when it is usable. */
export function backoffPolicyProblem(policy: BackoffPolicy): string | null {
  const { minMs, maxMs } = policy;
  if (!Number.isSafeInteger(minMs) || minMs < 1)
    return `minMs is ${minMs}; use a whole number of milliseconds ≥ 1`;
  if (!Number.isSafeInteger(maxMs) || maxMs < minMs)
    return `maxMs is ${maxMs}; use a whole number ≥ minMs (${minMs})`;
  return null;
}

/**
 * The ceiling for retry `attempt` (1 for the first retry): min(maxMs, minMs · 2^attempt). The
 * first retry already has room to jitter (up to 2 · minMs), so agents never retry in lockstep.
 */
export function backoffCeilingMs(attempt: number, policy: BackoffPolicy): number {
  const exponent = Math.min(Math.max(Math.floor(attempt) || 1, 1), MAX_EXPONENT); // NaN → 1
  return Math.min(policy.maxMs, policy.minMs * 2 ** exponent);
}

/**
 * Delay before retry `attempt` (1, 2, 3, …): a whole number of milliseconds drawn uniformly
 * from [minMs, ceiling]. Attempts below 1 count as 1. A random source that strays outside
 * [0, 1) is clamped (NaN counts as 0), so the result always stays within [minMs, maxMs].
 */
export function reconnectDelayMs(attempt: number, policy: BackoffPolicy, random: RandomSource): number {
  const ceiling = backoffCeilingMs(attempt, policy);
  const raw = random();
  const r = raw >= 0 ? Math.min(raw, 1) : 0; // false for NaN as well as negatives
  return Math.min(ceiling, policy.minMs + Math.floor(r * (ceiling - policy.minMs + 1)));
}

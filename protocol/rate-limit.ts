/**
 * Token buckets keyed by client: a remote address, or a provider key once its signature has
 * verified (settlement service), a remote address per new connection (embedded broker). `waitMs`
 * answers how long to wait when the bucket is empty; idle buckets are forgotten so a scan of
 * many addresses cannot grow memory without bound.
 */
export interface RatePolicy {
  /** Requests allowed at once. */
  readonly burst: number;
  /** Sustained requests per second. */
  readonly perSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const MAX_BUCKETS = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly policy: RatePolicy,
    private readonly now: () => number,
  ) {}

  /** Current tokens for `key`, refilled to now. */
  private bucket(key: string): Bucket {
    const t = this.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) this.forgetFull(t);
      b = { tokens: this.policy.burst, at: t };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.policy.burst, b.tokens + ((t - b.at) / 1000) * this.policy.perSecond);
    b.at = t;
    return b;
  }

  /** 0 when a request may go ahead now, else milliseconds until one may. Does not consume. */
  waitMs(key: string): number {
    const b = this.bucket(key);
    return b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) / this.policy.perSecond) * 1000);
  }

  /** Consumes one token (may go negative: a burst past the limit is paid back later). */
  charge(key: string): void {
    this.bucket(key).tokens -= 1;
  }

  private forgetFull(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.policy.perSecond >= this.policy.burst) this.buckets.delete(k);
    }
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
  }
}

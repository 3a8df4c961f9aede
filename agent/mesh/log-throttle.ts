/**
 * At most one log line per key per window, so a spoofer announcing every second cannot flood
 * the log; the line that gets through says how many were held back since the last one.
 */
export class LogThrottle {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys = 1024,
  ) {}

  /** Returns null when this line should be dropped, else how many were dropped before it. */
  admit(key: string, nowMs: number): number | null {
    const entry = this.last.get(key);
    if (entry !== undefined && nowMs - entry.atMs < this.windowMs) {
      entry.suppressed++;
      return null;
    }
    if (entry === undefined && this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { atMs: nowMs, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }
}

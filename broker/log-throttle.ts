/**
 * Decides which repeats of a log line to write: the first of each key at once, then at most one
 * per interval carrying how many were held back. A sensor publishing to a denied topic at 100 Hz
 * gives one line a minute, not 6,000.
 */
export class LogThrottle {
  private readonly last = new Map<string, { atMs: number; held: number }>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the number of lines held back since the last one written, or -1 to hold this one. */
  admit(key: string): number {
    const nowMs = this.now();
    const entry = this.last.get(key);
    if (entry !== undefined && nowMs - entry.atMs < this.intervalMs) {
      entry.held++;
      return -1;
    }
    const held = entry?.held ?? 0;
    if (entry === undefined && this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { atMs: nowMs, held: 0 });
    return held;
  }
}

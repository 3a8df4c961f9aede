import type { Logger } from '../log.js';

export interface ErrorReport {
  pipeline: string;
  node: string;
  reason: string;
  /** The sensor topic the bad message came on. */
  topic: string;
  detail: string;
  /** Messages rejected for this reason since start. */
  total: number;
  /** Reports of this reason not published since the last one (rate limit). */
  suppressed: number;
  ts: number;
}

/**
 * Publishes rejected readings on the pipeline's error topic, at most one report per reason
 * per interval, so a sensor spewing garbage cannot flood the broker; the counts stay exact.
 */
export class ErrorReporter {
  private readonly lastSent = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();
  private readonly totals = new Map<string, number>();

  constructor(
    private readonly init: { pipeline: string; node: string; topic: string; intervalMs: number },
    private readonly components: {
      publish: (topic: string, payload: string) => void;
      logger: Logger;
      now: () => number;
    },
  ) {}

  report(reason: string, topic: string, detail: string): void {
    const total = (this.totals.get(reason) ?? 0) + 1;
    this.totals.set(reason, total);
    const now = this.components.now();
    const last = this.lastSent.get(reason);
    if (last !== undefined && now - last < this.init.intervalMs) {
      this.suppressed.set(reason, (this.suppressed.get(reason) ?? 0) + 1);
      return;
    }
    const suppressed = this.suppressed.get(reason) ?? 0;
    this.suppressed.set(reason, 0);
    this.lastSent.set(reason, now);
    const report: ErrorReport = {
      pipeline: this.init.pipeline,
      node: this.init.node,
      reason,
      topic,
      detail,
      total,
      suppressed,
      ts: now,
    };
    this.components.logger.warn({ reason, topic, detail, total }, 'reading rejected');
    this.components.publish(this.init.topic, JSON.stringify(report));
  }

  /** Rejections per reason since start. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.totals);
  }
}

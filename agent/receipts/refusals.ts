import type { Logger } from 'pino';

/** Shortest interval between two "outbox full" warnings. */
export const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Counts receipts the outbox refused for lack of disk budget and warns about them at most once
 * per REFUSAL_LOG_INTERVAL_MS, with the counts and what to do: a full outbox is never a silent
 * drop, but a hot inference loop must not flood the log either.
 */
export class RefusalReporter {
  private total = 0;
  private sinceLastLog = 0;
  private lastLogAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  get refused(): number {
    return this.total;
  }

  refuse(state: { bytesUsed: number; needed: number; maxDiskBytes: number; pending: number }): void {
    this.total++;
    this.sinceLastLog++;
    const now = this.now();
    if (now - this.lastLogAtMs < REFUSAL_LOG_INTERVAL_MS) return;
    this.log.warn(
      { ...state, refused: this.total, refusedSinceLastWarning: this.sinceLastLog },
      'receipt outbox full: new receipts are refused and will never be credited. Check that the ' +
        'settlement service is reachable (acknowledged batches free space) or raise settlement.outbox.maxBytes',
    );
    this.lastLogAtMs = now;
    this.sinceLastLog = 0;
  }
}

import type { ActivityHandle, ActivityTracker } from '../activity.js';

export interface DrainFigures {
  /** Receipts not yet acknowledged (stored and buffered). */
  readonly pending: number;
  /** Receipts acknowledged since the agent started. */
  readonly acknowledged: number;
}

interface Drain {
  readonly handle: ActivityHandle;
  readonly pendingAtStart: number;
  readonly ackAtStart: number;
}

/**
 * Turns a backlog being sent into an `outbox-drain` activity. A drain starts on its own when
 * acknowledgements arrive while more than one batch waits (the service is back after an
 * outage, the node back after a power cut), or when an operator asks for a flush. It ends
 * once the receipts pending at its start are acknowledged and less than a batch is left:
 * what a busy node appends meanwhile is new work, not backlog, and must not keep it open.
 */
export class DrainWatch {
  private current: Drain | null = null;
  private lastAck = 0;

  constructor(
    private readonly init: { readonly backlogReceipts: number },
    private readonly parts: { readonly activities: ActivityTracker; figures(): DrainFigures },
  ) {}

  /** The id of the drain that sends the pending receipts, or null when none are pending. */
  flush(): string | null {
    if (this.current !== null) return this.current.handle.id;
    const f = this.parts.figures();
    if (f.pending === 0) return null;
    return this.begin(f).handle.id;
  }

  /** Call on a timer and after each acknowledged batch. */
  check(): void {
    const f = this.parts.figures();
    const acksArrived = f.acknowledged > this.lastAck;
    this.lastAck = f.acknowledged;
    if (this.current === null) {
      if (acksArrived && f.pending > this.init.backlogReceipts) this.begin(f);
      return;
    }
    const { handle, pendingAtStart, ackAtStart } = this.current;
    const done = f.acknowledged - ackAtStart;
    handle.update(done, done + f.pending);
    if (done >= pendingAtStart && f.pending < Math.max(1, this.init.backlogReceipts)) {
      handle.finish(`sent ${done} receipts, ${f.pending} pending`, done);
      this.current = null;
    }
  }

  /** At stop: a drain still open did not finish. */
  abandon(reason: string): void {
    this.current?.handle.fail(reason);
    this.current = null;
  }

  private begin(f: DrainFigures): Drain {
    const handle = this.parts.activities.begin('outbox-drain', 'receipts outbox', {
      unit: 'receipts',
      total: f.pending,
    });
    this.current = { handle, pendingAtStart: f.pending, ackAtStart: f.acknowledged };
    this.lastAck = f.acknowledged;
    return this.current;
  }
}

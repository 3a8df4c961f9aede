import type { Logger } from 'pino';
import { type BackoffPolicy, type RandomSource, reconnectDelayMs } from '../../protocol/backoff.js';
import { FieldmeshError } from '../../protocol/errors.js';
import type { SettlementSender } from './sender.js';
import { SettlementSenderStoppedError, SettlementUnavailableError } from './sender-errors.js';

export interface SendLoopInit {
  readonly url: string;
  /** How often the loop looks for a due batch. */
  readonly tickMs: number;
  readonly backoff: BackoffPolicy;
}

/** Sends held vouchers after the batches (vouchers-sender.ts). */
export interface VoucherSending {
  sendOnce(): Promise<{ readonly answered: number }>;
  stop(): void;
}

export interface SendLoopComponents {
  readonly sender: SettlementSender;
  /** When set, unanswered vouchers go out after the due batches, with the same backoff. */
  readonly vouchers?: VoucherSending;
  readonly logger: Logger;
  readonly now: () => number;
  readonly random?: RandomSource;
  /** Called after each acknowledged batch (the drain's progress). */
  readonly acknowledged?: () => void;
}

export interface SendLoopError {
  readonly code: string;
  readonly message: string;
  readonly atMs: number;
}

/**
 * Sends the outbox's due batches on a timer, so inference never waits on the network. While
 * the service is unreachable the backlog stays in the outbox and the loop retries with
 * backoff. A refused batch or a rejected acknowledgement is logged with its reason and retried
 * after backoff.maxMs: the batch stays in flight untouched, and an operator who fixes the cause
 * (registers the node, corrects the key) sees it go through without restarting the agent.
 */
export class SendLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private attempt = 0;
  private nextAttemptAtMs = 0;
  private stopped = false;
  private acknowledged = 0;
  /**
   * Flush requests, counted: one that arrives while a send runs (a timer tick still looking
   * for due batches) must survive that send's end, so it is not a flag the send clears.
   */
  private flushesAsked = 0;
  private flushesDone = 0;
  private error: SendLoopError | null = null;
  private readonly log: Logger;

  constructor(
    private readonly init: SendLoopInit,
    private readonly components: SendLoopComponents,
  ) {
    this.log = components.logger.child({ component: 'settlement-send-loop' });
  }

  get acknowledgedReceipts(): number {
    return this.acknowledged;
  }

  get lastError(): SendLoopError | null {
    return this.error;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.stopped = false;
    this.timer = setInterval(() => this.tick(), this.init.tickMs);
    this.timer.unref();
  }

  /** Sends what is due now, unless a send is already running or a retry is not yet due. */
  tick(): void {
    if (this.stopped || this.running !== undefined) return;
    if (this.components.now() < this.nextAttemptAtMs) return;
    this.running = this.sendDue().finally(() => {
      this.running = undefined;
    });
  }

  /**
   * Sends now: skips the backoff wait and cuts partial batches until the outbox is empty,
   * instead of waiting for the batch timer (`POST /v1/receipts/flush`).
   */
  flush(): void {
    this.flushesAsked++;
    this.nextAttemptAtMs = 0;
    this.tick();
  }

  /**
   * Stops the timer, waits for the send in progress, then sends what is due for at most
   * `deadlineMs`; the caller stops the sender afterwards, which aborts a request still running.
   */
  async finish(deadlineMs: number): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const last = (async () => {
      await this.running;
      if (!this.stopped) await this.sendDue();
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
    });
    await Promise.race([last, deadline]);
    clearTimeout(timer);
    this.stopped = true;
    this.components.sender.stop();
    this.components.vouchers?.stop();
    await last;
  }

  private reachable(): void {
    if (this.attempt > 0) this.log.info({ url: this.init.url }, 'settlement service reachable again');
    this.attempt = 0;
    this.error = null;
  }

  private async sendDue(): Promise<void> {
    const { sender, now } = this.components;
    try {
      for (;;) {
        const asked = this.flushesAsked;
        const cutNow = asked > this.flushesDone;
        const result = await sender.drainOnce({ cutNow });
        if (result.sent) {
          this.acknowledged += result.removed;
          this.reachable();
          this.components.acknowledged?.();
          continue;
        }
        // Only an outbox sent empty answers a request; a failure keeps it for the retry.
        if (cutNow) this.flushesDone = asked;
        if (this.flushesAsked === this.flushesDone) break;
      }
      // After the batches, so that a service too old to take vouchers never holds receipts back.
      const vouchers = await this.components.vouchers?.sendOnce();
      if (vouchers !== undefined && vouchers.answered > 0) this.reachable();
    } catch (err) {
      if (err instanceof SettlementSenderStoppedError) return;
      this.attempt++;
      const transient = err instanceof SettlementUnavailableError;
      const delayMs = transient
        ? reconnectDelayMs(this.attempt, this.init.backoff, this.components.random ?? Math.random)
        : this.init.backoff.maxMs;
      this.nextAttemptAtMs = now() + delayMs;
      this.error = {
        code: err instanceof FieldmeshError ? err.code : 'UNEXPECTED',
        message: (err as Error).message,
        atMs: now(),
      };
      if (transient) {
        // Once per outage at warn; the backlog stays on disk and the retries are routine.
        if (this.attempt === 1) {
          this.log.warn({ err, delayMs }, 'settlement service unavailable; receipts stay in the outbox');
        } else this.log.debug({ err, attempt: this.attempt, delayMs }, 'settlement retry failed');
      } else {
        this.log.error(
          { err, retryInMs: delayMs },
          'batch or vouchers not settled; inference goes on, retrying later',
        );
      }
    }
  }
}

import path from 'node:path';
import type { Logger } from 'pino';
import type { NodeIdentity } from '../../protocol/identity.js';
import { receiptId } from '../../protocol/receipt.js';
import { ActivityTracker } from '../activity.js';
import { type SettlementConfig, servicePublicKeyBytes } from '../config/schema.js';
import type { VoucherSink } from '../offload/voucher-sink.js';
import type { ReceiptJob, ReceiptSink } from '../pipeline/receipt-sink.js';
import { type ChallengeResponder, createChallengeResponder } from './challenges.js';
import type { NodeCredits } from './credits.js';
import { CreditsPoll } from './credits-poll.js';
import { DrainWatch } from './drain-watch.js';
import { createOutbox } from './outbox.js';
import type { Outbox } from './outbox-types.js';
import { writeJobReceipt } from './receipt-writer.js';
import { createTensorRetention, type TensorRetention } from './retention.js';
import { SendLoop } from './send-loop.js';
import { createSettlementSender } from './sender.js';
import { SettlementSenderConfigError } from './sender-errors.js';
import { type ReceiptsStatus, writeStatusFile } from './status-file.js';
import { VoucherBook, type VoucherBookStats } from './vouchers-book.js';
import { isOffloadPipeline } from './vouchers-offload.js';
import { VoucherSender } from './vouchers-sender.js';

export interface ReceiptServiceInit {
  readonly settlement: SettlementConfig;
  /** The node's data directory: receipts/, reveals/ and status/ live under it. */
  readonly dataDir: string;
}

export interface ReceiptServiceComponents {
  readonly logger: Logger;
  readonly identity: NodeIdentity;
  /** Default Date.now. */
  readonly now?: () => number;
  /** Where a backlog being sent shows (/v1/status); the service keeps its own otherwise. */
  readonly activities?: ActivityTracker;
}

/** The receipts status with the provider's vouchers (written to status/receipts.json too). */
export interface ReceiptServiceStatus extends ReceiptsStatus {
  readonly vouchers: VoucherBookStats;
  /** The service's last answer about this node's credits; null until it has answered once. */
  readonly credits: NodeCredits | null;
}

export interface ReceiptService {
  /** Give it to every pipeline; valid between start() and stop(). */
  readonly sink: ReceiptSink;
  /** Give it to the offload provider: consumers' vouchers; valid between start() and stop(). */
  readonly vouchers: VoucherSink;
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): ReceiptServiceStatus;
  /**
   * Sends the pending receipts now, partial batches and all, skipping any backoff wait.
   * Returns the id of the `outbox-drain` activity, or null when nothing is pending.
   */
  flush(): string | null;
}

/** How often the send loop looks for a due batch. */
const SEND_TICK_MS = 1_000;
/** How often status/receipts.json is rewritten. */
const STATUS_FILE_MS = 2_000;
/** Bound on the last send at stop. */
const FINAL_DRAIN_MS = 2_000;
const ERROR_LOG_INTERVAL_MS = 60_000;

export function createReceiptService(
  init: ReceiptServiceInit,
  components: ReceiptServiceComponents,
): ReceiptService {
  return new SettlementReceipts(init, components);
}

/**
 * Owns the receipt parts of an agent — outbox, tensor retention, settlement sender, challenge
 * responder — and their lifecycle, so the agent only starts and stops one thing. Inference
 * never waits on any of it: the sink buffers, and sending and polling run on timers.
 */
class SettlementReceipts implements ReceiptService {
  readonly sink: ReceiptSink;
  readonly vouchers: VoucherBook;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly url: string;
  private readonly outbox: Outbox;
  private readonly retention: TensorRetention;
  private readonly sendLoop: SendLoop;
  private readonly challenges: ChallengeResponder;
  private readonly drain: DrainWatch;
  private timers: NodeJS.Timeout[] = [];
  private polling = false;
  private readonly credits: CreditsPoll;
  private statusWrite: Promise<void> = Promise.resolve();
  private lastSinkErrorAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly init: ReceiptServiceInit,
    private readonly components: ReceiptServiceComponents,
  ) {
    const { settlement, dataDir } = init;
    const { identity } = components;
    this.log = components.logger.child({ component: 'receipts' });
    this.now = components.now ?? Date.now;
    this.url = settlement.url.replace(/\/+$/, '');
    const servicePublicKey = servicePublicKeyBytes(settlement.servicePublicKey);
    if (servicePublicKey === undefined) {
      throw new SettlementSenderConfigError([
        `servicePublicKey ${JSON.stringify(settlement.servicePublicKey)} is neither a PeerId nor 64 hex digits`,
      ]);
    }
    this.outbox = createOutbox(
      {
        dir: path.join(dataDir, 'receipts'),
        maxDiskBytes: settlement.outbox.maxBytes,
        policy: settlement.batch,
      },
      { logger: components.logger, now: this.now, identity },
    );
    this.retention = createTensorRetention(
      {
        dir: path.join(dataDir, 'reveals'),
        maxBytes: settlement.retention.maxBytes,
        retentionMs: settlement.retention.maxAgeMs,
      },
      { logger: components.logger, now: this.now },
    );
    const sender = createSettlementSender(
      {
        url: `${this.url}/v1/batches`,
        servicePublicKey,
        requestTimeoutMs: settlement.requestTimeoutMs,
        backoff: settlement.backoff,
      },
      { outbox: this.outbox, logger: components.logger },
    );
    this.vouchers = new VoucherBook(
      { dir: path.join(dataDir, 'vouchers'), providerKey: identity.publicKey },
      { logger: components.logger },
    );
    const vouchers = new VoucherSender(
      { url: `${this.url}/v1/vouchers`, requestTimeoutMs: settlement.requestTimeoutMs },
      { book: this.vouchers, logger: components.logger },
    );
    this.sendLoop = new SendLoop(
      { url: this.url, tickMs: SEND_TICK_MS, backoff: settlement.backoff },
      { sender, vouchers, logger: components.logger, now: this.now, acknowledged: () => this.drain.check() },
    );
    const activities =
      components.activities ?? new ActivityTracker({}, { logger: components.logger, now: this.now });
    this.drain = new DrainWatch(
      { backlogReceipts: settlement.batch.maxReceipts },
      {
        activities,
        figures: () => ({ pending: this.status().pending, acknowledged: this.sendLoop.acknowledgedReceipts }),
      },
    );
    this.challenges = createChallengeResponder(
      {
        baseUrl: this.url,
        providerKeyHex: Buffer.from(identity.publicKey).toString('hex'),
        requestTimeoutMs: settlement.requestTimeoutMs,
      },
      { retention: this.retention, logger: components.logger },
    );
    this.credits = new CreditsPoll(
      { url: this.url, nodeId: identity.peerId, timeoutMs: settlement.requestTimeoutMs },
      this.now,
    );
    this.sink = { record: (job) => this.record(job) };
  }

  async start(): Promise<void> {
    await this.outbox.start();
    try {
      await this.retention.start();
    } catch (err) {
      await this.outbox.stop();
      throw err;
    }
    try {
      await this.vouchers.start();
    } catch (err) {
      await this.retention.stop().catch(() => undefined);
      await this.outbox.stop();
      throw err;
    }
    this.sendLoop.start();
    this.every(this.init.settlement.challengePollMs, () => this.pollChallenges());
    this.every(STATUS_FILE_MS, () => this.writeStatus());
    this.every(SEND_TICK_MS, () => this.drain.check());
    this.every(this.init.settlement.creditsPollMs, () => this.credits.ask());
    this.credits.ask();
    this.writeStatus();
    this.log.info({ url: this.url, ...this.status() }, 'receipts on');
  }

  /** Call after the pipelines stopped: flushes, sends what is due (≤ 2 s), closes the stores. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.challenges.stop();
    await this.outbox.flush().catch((err: unknown) => this.log.error({ err }, 'outbox flush at stop failed'));
    await this.sendLoop.finish(FINAL_DRAIN_MS);
    this.drain.check();
    this.drain.abandon('the agent stopped; the rest stays in the outbox for the next start');
    await this.vouchers.stop();
    this.writeStatus();
    await this.statusWrite;
    await this.retention
      .stop()
      .catch((err: unknown) => this.log.warn({ err }, 'tensor retention stop failed'));
    await this.outbox.stop();
    this.log.info(this.status(), 'receipts off');
  }

  status(): ReceiptServiceStatus {
    const o = this.outbox.stats();
    return {
      pending: o.pendingReceipts + o.bufferedReceipts,
      inFlightBatch: o.inFlightBatchSequence,
      appended: o.appended,
      refused: o.refused,
      acknowledgedReceipts: this.sendLoop.acknowledgedReceipts,
      lastAckAtMs: o.lastAckAtMs,
      lastError: this.sendLoop.lastError,
      vouchers: this.vouchers.stats(),
      credits: this.credits.latest,
    };
  }

  flush(): string | null {
    const id = this.drain.flush();
    if (id !== null) this.sendLoop.flush();
    return id;
  }

  /** The inference path: never throws, never waits. */
  private record(job: ReceiptJob): void {
    try {
      if (
        job.sequence !== undefined &&
        isOffloadPipeline(job.pipelineId) &&
        !this.isOwnKey(job.consumerKey)
      ) {
        this.recordOffload(job, job.sequence);
        return;
      }
      // A ReceiptJob carries every receipt field the outbox needs (and the tensors, ignored there).
      const stored = this.outbox.appendJob(job);
      if (stored !== null) this.retention.put(stored.id, stored.sequence, job.input, job.output);
    } catch (err) {
      this.sinkError(err, job.pipelineId);
    }
  }

  /**
   * Work run for another node: the receipt carries the session's own sequence (the provider's
   * count, which the consumer vouches for), so it goes to the outbox already encoded. append()
   * writes it at once rather than with the next group commit; offloaded jobs arrive one MQTT
   * round trip apart, not by the thousand.
   */
  private recordOffload(job: ReceiptJob, sequence: number): void {
    const body = writeJobReceipt(job, this.components.identity.publicKey, sequence);
    this.retention.put(receiptId(body), sequence, job.input, job.output);
    this.outbox.append(body).catch((err: unknown) => this.sinkError(err, job.pipelineId));
  }

  private isOwnKey(key: Uint8Array): boolean {
    return Buffer.compare(key, this.components.identity.publicKey) === 0;
  }

  private sinkError(err: unknown, pipeline: string): void {
    const now = this.now();
    if (now - this.lastSinkErrorAtMs < ERROR_LOG_INTERVAL_MS) return;
    this.lastSinkErrorAtMs = now;
    this.log.error({ err, pipeline }, 'receipt not recorded');
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private pollChallenges(): void {
    if (this.polling) return;
    this.polling = true;
    // The responder itself logs what it answered ('spot-check challenges answered').
    this.challenges
      .pollOnce()
      .catch((err: unknown) => this.log.warn({ err }, 'challenge poll failed; trying again later'))
      .finally(() => {
        this.polling = false;
      });
  }

  private writeStatus(): void {
    const file = {
      nodeId: this.components.identity.peerId,
      url: this.url,
      pid: process.pid,
      updatedAtMs: this.now(),
      receipts: this.status(),
    };
    // Chained, so an older status can never overwrite a newer one.
    this.statusWrite = this.statusWrite
      .then(() => writeStatusFile(this.init.dataDir, file))
      .catch((err: unknown) => this.log.warn({ err }, 'status/receipts.json not written'));
  }
}

import type { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { loadClassicLevel } from '../../broker/level-db.js';
import type { AckEntry, SignedAck } from '../../protocol/ack.js';
import { receiptId } from '../../protocol/receipt.js';
import { batchPolicyProblems } from './batch-policy.js';
import { CommitBuffer } from './commit-buffer.js';
import { OutboxConfigError, OutboxFullError, OutboxNotStartedError } from './errors.js';
import { checkAckMatches } from './match-ack.js';
import { removeAckedBatch, verifyAckNode } from './outbox-ack.js';
import { cutBatch, publicBatch } from './outbox-batch-cut.js';
import {
  OUTBOX_USE,
  type Outbox,
  type OutboxBatch,
  type OutboxComponents,
  type OutboxInit,
  type OutboxStats,
  type ReceiptFields,
} from './outbox-types.js';
import { writeJobReceipt } from './receipt-writer.js';
import {
  decodeInFlight,
  decodeNumber,
  decodeReceiptRecord,
  encodeReceiptRecord,
  type InFlightBatch,
  indexKey,
  META_IN_FLIGHT,
  META_LAST_ACK,
  META_NEXT_BATCH,
  META_NEXT_SEQ,
  RECEIPT_RANGE,
  receiptCost,
  receiptKey,
} from './records.js';
import { RefusalReporter } from './refusals.js';

export type {
  Outbox,
  OutboxBatch,
  OutboxComponents,
  OutboxInit,
  OutboxStats,
  ReceiptFields,
} from './outbox-types.js';

type Db = ClassicLevel<string, Uint8Array>;
/** Longest a receipt from appendJob waits in memory before its group commit. */
export const GROUP_COMMIT_MS = 50;
/** Buffered receipts that trigger a group commit at once. */
export const GROUP_COMMIT_MAX = 256;
/** Ids of stored receipts kept in memory for the next batch cut, which otherwise hashes them again. */
const MAX_REMEMBERED_IDS = 20_000;

/**
 * The agent's durable receipt outbox (DESIGN.md "Storage"): a cut batch is recorded before it
 * is returned, so after a crash the same bytes are re-sent and settlement credits them once.
 *
 * Group commit. append() fsyncs each receipt before it resolves; appendJob() (the inference
 * path) only buffers, and one synced db.batch writes everything buffered every
 * GROUP_COMMIT_MS or at GROUP_COMMIT_MAX receipts. nextBatch() flushes before it cuts, so a
 * receipt is durable before any batch holding it leaves the node. After a power cut nothing
 * is credited twice: every receipt that was ever sent is on disk with its sequence, and the
 * persisted next sequence is past it. A crash may lose the last ≤ GROUP_COMMIT_MS of buffered
 * receipts; their sequence numbers are then handed out again after the restart. That is safe:
 * those receipts were never in a batch, so settlement never saw them and no
 * (provider, pipeline, sequence) slot can hold two different ids (no equivocation).
 */
export function createOutbox(init: OutboxInit, components: OutboxComponents): Outbox {
  const problems = batchPolicyProblems(init.policy);
  if (!(Number.isSafeInteger(init.maxDiskBytes) && init.maxDiskBytes > 0)) {
    problems.push(`maxDiskBytes must be a positive integer, got ${String(init.maxDiskBytes)}`);
  }
  if (problems.length > 0) throw new OutboxConfigError(problems);
  return new ReceiptOutbox(init, components);
}

class ReceiptOutbox implements Outbox {
  private readonly log: Logger;
  private db: Db | undefined;
  // Every operation runs after the previous one, so the counters below match the disk.
  private queue: Promise<unknown> = Promise.resolve();
  private nextSeq = 0;
  private nextBatchSeq = 0;
  private pending = 0;
  private bytesUsed = 0;
  private inFlight: InFlightBatch | undefined;
  private lastAckAtMs: number | null = null;
  private readonly buffer = new CommitBuffer();
  private flushTimer: NodeJS.Timeout | undefined;
  private appended = 0;
  // r! key → receipt id, for receipts appended by this process and not yet acknowledged.
  private readonly ids = new Map<string, Uint8Array>();
  private readonly refusals: RefusalReporter;

  constructor(
    private readonly init: OutboxInit,
    private readonly components: OutboxComponents,
  ) {
    this.log = components.logger.child({ component: 'receipt-outbox' });
    this.refusals = new RefusalReporter(this.log, components.now);
  }

  async start(): Promise<void> {
    if (this.db !== undefined) return;
    const Level = await loadClassicLevel(OUTBOX_USE);
    const db: Db = new Level<string, Uint8Array>(this.init.dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    });
    await db.open();
    this.ids.clear();
    this.nextSeq = decodeNumber(await db.get(META_NEXT_SEQ)) ?? 0;
    this.nextBatchSeq = decodeNumber(await db.get(META_NEXT_BATCH)) ?? 0;
    this.lastAckAtMs = decodeNumber(await db.get(META_LAST_ACK)) ?? null;
    const inFlight = await db.get(META_IN_FLIGHT);
    this.inFlight = inFlight === undefined ? undefined : decodeInFlight(inFlight);
    this.pending = 0;
    this.bytesUsed = 0;
    for await (const [key, value] of db.iterator(RECEIPT_RANGE)) {
      const { body } = decodeReceiptRecord(value);
      this.pending++;
      this.bytesUsed += receiptCost(key, receiptId(body), body.length);
    }
    this.db = db;
    this.log.info({ dir: this.init.dir, ...this.stats() }, 'receipt outbox opened');
  }

  async stop(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    await this.flush().catch((err: unknown) =>
      this.log.error({ err, lost: this.buffer.length }, 'buffered receipts could not be written at stop'),
    );
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.queue.catch(() => undefined);
    this.db = undefined;
    this.buffer.clear();
    // Sequences of receipts lost from the buffer are handed out again after a restart.
    this.ids.clear();
    await db.close();
  }

  append(receiptBody: Uint8Array): Promise<{ id: Uint8Array }> {
    return this.serial('append', (db) => this.appendNow(db, receiptBody));
  }

  appendJob(fields: ReceiptFields): { id: Uint8Array; sequence: number } | null {
    if (this.db === undefined) throw new OutboxNotStartedError('appendJob');
    const sequence = this.nextSeq;
    const body = writeJobReceipt(fields, this.components.identity.publicKey, sequence);
    const id = receiptId(body);
    if (!this.reserve(sequence, id, body)) return null;
    if (this.flushTimer === undefined) this.scheduleFlush(GROUP_COMMIT_MS);
    else if (this.buffer.length === GROUP_COMMIT_MAX) this.scheduleFlush(0);
    return { id, sequence };
  }

  flush(): Promise<void> {
    return this.serial('flush', (db) => this.flushNow(db));
  }

  nextBatch(options: { readonly cutNow?: boolean } = {}): Promise<OutboxBatch | null> {
    return this.serial('nextBatch', async (db) => {
      await this.flushNow(db);
      return this.nextBatchNow(db, options.cutNow === true);
    });
  }

  acknowledge(
    signedAck: SignedAck,
    servicePublicKey: Uint8Array,
  ): Promise<{ removed: number; statuses: readonly AckEntry[] }> {
    return this.serial('acknowledge', (db) => this.acknowledgeNow(db, signedAck, servicePublicKey));
  }

  stats(): OutboxStats {
    return {
      pendingReceipts: this.pending,
      bytesUsed: this.bytesUsed,
      maxDiskBytes: this.init.maxDiskBytes,
      inFlightBatchSequence: this.inFlight?.batchSequence ?? null,
      lastAckAtMs: this.lastAckAtMs,
      bufferedReceipts: this.buffer.length,
      appended: this.appended,
      refused: this.refusals.refused,
    };
  }

  /**
   * Takes `sequence` (always this.nextSeq) for the receipt and buffers its records, or counts
   * a refusal when the budget, buffered receipts included, has no room for it.
   */
  private reserve(sequence: number, id: Uint8Array, body: Uint8Array): boolean {
    const key = receiptKey(sequence);
    const idKey = indexKey(id);
    const cost = receiptCost(key, id, body.length);
    const used = this.bytesUsed + this.buffer.cost;
    if (used + cost > this.init.maxDiskBytes) {
      this.refusals.refuse({
        bytesUsed: used,
        needed: cost,
        maxDiskBytes: this.init.maxDiskBytes,
        pending: this.pending + this.buffer.length,
      });
      return false;
    }
    this.nextSeq = sequence + 1;
    const record = encodeReceiptRecord(this.components.now(), body);
    this.buffer.add({ seq: sequence, key, idKey, record, cost });
    if (this.ids.size < MAX_REMEMBERED_IDS) this.ids.set(key, id);
    this.appended++;
    return true;
  }

  private scheduleFlush(delayMs: number): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      // A failed commit keeps the receipts buffered; the next one retries them.
      this.flush().catch((err: unknown) => {
        this.log.error({ err, buffered: this.buffer.length }, 'receipt group commit failed; retrying');
        if (this.db !== undefined && this.flushTimer === undefined) this.scheduleFlush(GROUP_COMMIT_MS);
      });
    }, delayMs);
  }

  /** One synced write of every buffered receipt and the next sequence. */
  private async flushNow(db: Db): Promise<void> {
    const { count, cost } = await this.buffer.commit(db);
    this.bytesUsed += cost;
    this.pending += count;
  }

  private serial<T>(operation: string, run: (db: Db) => Promise<T>): Promise<T> {
    const result = this.queue.then(() => {
      const db = this.db;
      if (db === undefined) throw new OutboxNotStartedError(operation);
      return run(db);
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async appendNow(db: Db, body: Uint8Array): Promise<{ id: Uint8Array }> {
    const id = receiptId(body);
    if ((await db.get(indexKey(id))) !== undefined) return { id };
    if (this.buffer.has(indexKey(id))) {
      await this.flushNow(db);
      return { id };
    }
    const sequence = this.nextSeq;
    if (!this.reserve(sequence, id, body)) {
      const used = this.bytesUsed + this.buffer.cost;
      throw new OutboxFullError(
        used,
        receiptCost(receiptKey(sequence), id, body.length),
        this.init.maxDiskBytes,
      );
    }
    // Written together with whatever appendJob buffered before it, in sequence order.
    await this.flushNow(db);
    return { id };
  }

  private async nextBatchNow(db: Db, cutNow: boolean): Promise<OutboxBatch | null> {
    if (this.inFlight !== undefined) return publicBatch(this.inFlight);
    const batch = await cutBatch(db, {
      policy: this.init.policy,
      secretKey: this.components.identity.secretKey,
      batchSequence: this.nextBatchSeq,
      cutNow,
      now: () => this.components.now(),
      idOf: (key) => this.ids.get(key),
    });
    if (batch === null) return null;
    this.inFlight = batch;
    this.nextBatchSeq++;
    this.log.info({ batchSequence: batch.batchSequence, receipts: batch.receiptKeys.length }, 'batch cut');
    return publicBatch(batch);
  }

  private async acknowledgeNow(
    db: Db,
    signedAck: SignedAck,
    servicePublicKey: Uint8Array,
  ): Promise<{ removed: number; statuses: readonly AckEntry[] }> {
    const ack = checkAckMatches(
      () => verifyAckNode(signedAck, servicePublicKey),
      this.inFlight,
      this.components.identity.publicKey,
    );
    const batch = this.inFlight!;
    const { freed, ackedAt } = await removeAckedBatch(db, batch, () => this.components.now());
    this.inFlight = undefined;
    for (const key of batch.receiptKeys) this.ids.delete(key);
    this.pending -= batch.receiptKeys.length;
    this.bytesUsed -= freed;
    this.lastAckAtMs = ackedAt;
    this.log.info(
      { batchSequence: batch.batchSequence, removed: batch.receiptKeys.length },
      'batch acknowledged',
    );
    return { removed: batch.receiptKeys.length, statuses: ack.receipts };
  }
}

import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { type AckEntry, batchHeaderHash, type SignedAck, verifyAck } from '../../protocol/ack.js';
import { signBatch } from '../../protocol/batch.js';
import { receiptId } from '../../protocol/receipt.js';
import { encodeSubmission } from '../../protocol/submission.js';
import { type BatchPolicy, batchPolicyProblems, type PendingReceipt, receiptsToCut } from './batch-policy.js';
import { OutboxConfigError, OutboxFullError, OutboxNotStartedError } from './errors.js';
import { checkAckMatches } from './match-ack.js';
import {
  decodeInFlight,
  decodeNumber,
  decodeReceiptRecord,
  encodeInFlight,
  encodeNumber,
  encodeReceiptRecord,
  INDEX_PREFIX,
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

export interface OutboxInit {
  /** Directory of the ClassicLevel store; created when missing. */
  readonly dir: string;
  /** Budget for stored receipts (records and keys); appends beyond it are refused. */
  readonly maxDiskBytes: number;
  readonly policy: BatchPolicy;
}

export interface OutboxComponents {
  readonly logger: Logger;
  readonly now: () => number;
  readonly identity: { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array };
}

export interface OutboxBatch {
  /** The encoded submission, byte-identical every time this batch is returned. */
  readonly submission: Uint8Array;
  readonly batchSequence: number;
  readonly receiptIds: readonly Uint8Array[];
}

export interface OutboxStats {
  /** Receipts stored and not yet acknowledged, the in-flight ones included. */
  readonly pendingReceipts: number;
  readonly bytesUsed: number;
  readonly maxDiskBytes: number;
  readonly inFlightBatchSequence: number | null;
  readonly lastAckAtMs: number | null;
}

export interface Outbox {
  start(): Promise<void>;
  stop(): Promise<void>;
  append(receiptBody: Uint8Array): Promise<{ id: Uint8Array }>;
  nextBatch(): Promise<OutboxBatch | null>;
  acknowledge(
    signedAck: SignedAck,
    servicePublicKey: Uint8Array,
  ): Promise<{ removed: number; statuses: readonly AckEntry[] }>;
  stats(): OutboxStats;
}

type Db = ClassicLevel<string, Uint8Array>;
const SYNC = { sync: true } as const;

/**
 * The agent's durable receipt outbox (DESIGN.md "Storage"): a receipt is on disk (fsync)
 * before append resolves, and a cut batch is recorded before it is returned, so after a
 * crash the same bytes are re-sent and settlement credits them once.
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

  constructor(
    private readonly init: OutboxInit,
    private readonly components: OutboxComponents,
  ) {
    this.log = components.logger.child({ component: 'receipt-outbox' });
  }

  async start(): Promise<void> {
    if (this.db !== undefined) return;
    const db: Db = new ClassicLevel<string, Uint8Array>(this.init.dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    });
    await db.open();
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
    await this.queue.catch(() => undefined);
    this.db = undefined;
    await db.close();
  }

  append(receiptBody: Uint8Array): Promise<{ id: Uint8Array }> {
    return this.serial('append', (db) => this.appendNow(db, receiptBody));
  }

  nextBatch(): Promise<OutboxBatch | null> {
    return this.serial('nextBatch', (db) => this.nextBatchNow(db));
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
    };
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
    const idKey = indexKey(id);
    if ((await db.get(idKey)) !== undefined) return { id };
    const key = receiptKey(this.nextSeq);
    const cost = receiptCost(key, id, body.length);
    if (this.bytesUsed + cost > this.init.maxDiskBytes) {
      const err = new OutboxFullError(this.bytesUsed, cost, this.init.maxDiskBytes);
      this.log.warn(
        { err, bytesUsed: this.bytesUsed, needed: cost, pending: this.pending },
        'receipt refused',
      );
      throw err;
    }
    await db.batch(
      [
        { type: 'put', key, value: encodeReceiptRecord(this.components.now(), body) },
        { type: 'put', key: idKey, value: new TextEncoder().encode(key) },
        { type: 'put', key: META_NEXT_SEQ, value: encodeNumber(this.nextSeq + 1) },
      ],
      SYNC,
    );
    this.nextSeq++;
    this.pending++;
    this.bytesUsed += cost;
    return { id };
  }

  private async nextBatchNow(db: Db): Promise<OutboxBatch | null> {
    if (this.inFlight !== undefined) return publicBatch(this.inFlight);
    const { policy } = this.init;
    const keys: string[] = [];
    const bodies: Uint8Array[] = [];
    const pending: PendingReceipt[] = [];
    // One more than a batch holds tells the policy whether the batch is full by count.
    for await (const [key, value] of db.iterator({ ...RECEIPT_RANGE, limit: policy.maxReceipts + 1 })) {
      const { appendedAtMs, body } = decodeReceiptRecord(value);
      keys.push(key);
      bodies.push(body);
      pending.push({ bodyBytes: body.length, appendedAtMs });
    }
    const count = receiptsToCut(pending, policy, this.components.now());
    if (count === 0) return null;
    const batchBodies = bodies.slice(0, count);
    const receiptIds = batchBodies.map(receiptId);
    const signed = signBatch(receiptIds, {
      secretKey: this.components.identity.secretKey,
      batchSequence: this.nextBatchSeq,
      createdAtMs: this.components.now(),
    });
    const batch: InFlightBatch = {
      batchSequence: this.nextBatchSeq,
      submission: encodeSubmission({
        headerBytes: signed.headerBytes,
        signature: signed.signature,
        receiptBodies: batchBodies,
      }),
      headerHash: batchHeaderHash(signed.headerBytes),
      receiptKeys: keys.slice(0, count),
      receiptIds,
    };
    await db.batch(
      [
        { type: 'put', key: META_IN_FLIGHT, value: encodeInFlight(batch) },
        { type: 'put', key: META_NEXT_BATCH, value: encodeNumber(batch.batchSequence + 1) },
      ],
      SYNC,
    );
    this.inFlight = batch;
    this.nextBatchSeq++;
    this.log.info({ batchSequence: batch.batchSequence, receipts: count }, 'batch cut');
    return publicBatch(batch);
  }

  private async acknowledgeNow(
    db: Db,
    signedAck: SignedAck,
    servicePublicKey: Uint8Array,
  ): Promise<{ removed: number; statuses: readonly AckEntry[] }> {
    const ack = checkAckMatches(
      () => verifyAck(signedAck, servicePublicKey),
      this.inFlight,
      this.components.identity.publicKey,
    );
    const batch = this.inFlight!;
    let freed = 0;
    const ops: { type: 'del'; key: string }[] = [];
    for (const [i, key] of batch.receiptKeys.entries()) {
      const value = await db.get(key);
      const id = batch.receiptIds[i]!;
      if (value !== undefined) freed += receiptCost(key, id, value.length - 8);
      ops.push({ type: 'del', key }, { type: 'del', key: INDEX_PREFIX + Buffer.from(id).toString('hex') });
    }
    const ackedAt = this.components.now();
    await db.batch(
      [
        ...ops,
        { type: 'del', key: META_IN_FLIGHT },
        { type: 'put', key: META_LAST_ACK, value: encodeNumber(ackedAt) },
      ],
      SYNC,
    );
    this.inFlight = undefined;
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

function publicBatch(batch: InFlightBatch): OutboxBatch {
  return { submission: batch.submission, batchSequence: batch.batchSequence, receiptIds: batch.receiptIds };
}

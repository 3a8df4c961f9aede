import type { ClassicLevel } from 'classic-level';
import { batchHeaderHash } from '../../protocol/ack.js';
import { signBatch } from '../../protocol/batch.js';
import { receiptId } from '../../protocol/receipt.js';
import { encodeSubmission } from '../../protocol/submission.js';
import { type BatchPolicy, type PendingReceipt, receiptsToCut } from './batch-policy.js';
import type { OutboxBatch } from './outbox-types.js';
import {
  decodeReceiptRecord,
  encodeInFlight,
  encodeNumber,
  type InFlightBatch,
  META_IN_FLIGHT,
  META_NEXT_BATCH,
  RECEIPT_RANGE,
} from './records.js';

const SYNC = { sync: true } as const;

export interface BatchCutContext {
  readonly policy: BatchPolicy;
  readonly secretKey: Uint8Array;
  readonly batchSequence: number;
  readonly now: () => number;
}

/**
 * Cuts the next batch from the oldest stored receipts when the policy says one is due, signs
 * it and records it as in flight (with the next batch sequence) in one synced write, so that
 * after a crash the same bytes are re-sent. Resolves with null when no batch is due.
 */
export async function cutBatch(
  db: ClassicLevel<string, Uint8Array>,
  ctx: BatchCutContext,
): Promise<InFlightBatch | null> {
  const { policy } = ctx;
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
  const count = receiptsToCut(pending, policy, ctx.now());
  if (count === 0) return null;
  const batchBodies = bodies.slice(0, count);
  const receiptIds = batchBodies.map(receiptId);
  const signed = signBatch(receiptIds, {
    secretKey: ctx.secretKey,
    batchSequence: ctx.batchSequence,
    createdAtMs: ctx.now(),
  });
  const batch: InFlightBatch = {
    batchSequence: ctx.batchSequence,
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
  return batch;
}

/** What the caller sees of an in-flight batch. */
export function publicBatch(batch: InFlightBatch): OutboxBatch {
  return { submission: batch.submission, batchSequence: batch.batchSequence, receiptIds: batch.receiptIds };
}

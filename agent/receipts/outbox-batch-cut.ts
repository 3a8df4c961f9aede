import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ClassicLevel } from 'classic-level';
import { batchHeaderHash } from '../../protocol/ack.js';
import { BATCH_DOMAIN_TAG, BatchError, encodeBatchHeader } from '../../protocol/batch.js';
import { merkleRoot } from '../../protocol/merkle.js';
import { receiptId } from '../../protocol/receipt.js';
import { sign } from '../../protocol/signatures.js';
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
  /** Cut whatever is pending, however young: an operator asked to send now. */
  readonly cutNow?: boolean;
  readonly now: () => number;
  /** The id of a stored receipt when the outbox still has it in memory (else it is hashed again). */
  readonly idOf?: (key: string) => Uint8Array | undefined;
}

/** Receipts hashed between two turns of the event loop while a batch is cut. */
const IDS_PER_TURN = 128;

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
  const count = receiptsToCut(pending, policy, ctx.now(), ctx.cutNow === true);
  if (count === 0) return null;
  const batchBodies = bodies.slice(0, count);
  const receiptKeys = keys.slice(0, count);
  // A full batch is hundreds of receipts: the work is spread over several turns of the event
  // loop, so that inference and results are never held up for milliseconds by a cut.
  const receiptIds: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % IDS_PER_TURN === 0) await nextTurn();
    receiptIds.push(ctx.idOf?.(receiptKeys[i] as string) ?? receiptId(batchBodies[i] as Uint8Array));
  }
  await nextTurn();
  const root = merkleRoot(receiptIds);
  await nextTurn();
  const signed = signHeader(receiptIds.length, root, ctx);
  const batch: InFlightBatch = {
    batchSequence: ctx.batchSequence,
    submission: encodeSubmission({
      headerBytes: signed.headerBytes,
      signature: signed.signature,
      receiptBodies: batchBodies,
    }),
    headerHash: batchHeaderHash(signed.headerBytes),
    receiptKeys,
    receiptIds,
    bodyBytes: batchBodies.map((b) => b.length),
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

/**
 * signBatch (protocol/batch.ts) for a root already computed in turns. Signed with tweetnacl,
 * the agent's signer by design (DESIGN.md); that is about 3 ms on the event loop once per
 * batch, after a turn of its own.
 */
function signHeader(
  leafCount: number,
  root: Uint8Array,
  ctx: BatchCutContext,
): { headerBytes: Uint8Array; signature: Uint8Array } {
  if (ctx.secretKey.length !== 64) {
    throw new BatchError('BATCH_INVALID', 'the provider secret key must be 64 bytes (seed ‖ public key)');
  }
  const headerBytes = encodeBatchHeader({
    providerKey: ctx.secretKey.slice(32, 64),
    batchSequence: ctx.batchSequence,
    leafCount,
    merkleRoot: root,
    createdAtMs: ctx.now(),
  });
  return { headerBytes, signature: sign(BATCH_DOMAIN_TAG, headerBytes, ctx.secretKey) };
}

/** What the caller sees of an in-flight batch. */
export function publicBatch(batch: InFlightBatch): OutboxBatch {
  return { submission: batch.submission, batchSequence: batch.batchSequence, receiptIds: batch.receiptIds };
}

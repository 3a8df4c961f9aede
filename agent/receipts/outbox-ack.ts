import type { ClassicLevel } from 'classic-level';
import { ACK_DOMAIN_TAG, type Ack, AckError, decodeAck, type SignedAck } from '../../protocol/ack.js';
import { verifyNode } from '../../protocol/signatures.js';
import {
  encodeNumber,
  type InFlightBatch,
  indexKey,
  META_IN_FLIGHT,
  META_LAST_ACK,
  RECORD_TIME_BYTES,
  receiptCost,
} from './records.js';

const SYNC = { sync: true } as const;

/**
 * verifyAck (protocol/ack.ts) with node:crypto instead of tweetnacl: the project verifies with
 * node:crypto, and tweetnacl took ~9 ms per ack on the event loop. The two verifiers apply the
 * same rule (S < L) and are cross-tested to agree (test/protocol/signatures.test.ts).
 */
export function verifyAckNode(signed: SignedAck, servicePublicKey: Uint8Array): Ack {
  if (!verifyNode(ACK_DOMAIN_TAG, signed.ackBytes, signed.signature, servicePublicKey)) {
    throw new AckError(
      'ACK_SIGNATURE_INVALID',
      'acknowledgement signature does not verify under the settlement service key; check the configured service key',
    );
  }
  return decodeAck(signed.ackBytes);
}

/**
 * Deletes an acknowledged batch's receipts (records and id index), clears the in-flight batch
 * and records the ack time, in one synced write. Resolves with the bytes freed and the time.
 */
export async function removeAckedBatch(
  db: ClassicLevel<string, Uint8Array>,
  batch: InFlightBatch,
  now: () => number,
): Promise<{ freed: number; ackedAt: number }> {
  // Sizes from the cut when this process made it; else one read of every record (not one
  // await per receipt).
  const sizes =
    batch.bodyBytes?.length === batch.receiptKeys.length
      ? batch.bodyBytes
      : (await db.getMany(batch.receiptKeys as string[])).map((v) =>
          v === undefined ? undefined : v.length - RECORD_TIME_BYTES,
        );
  // A chained batch: the array form validates and copies every operation on the event loop,
  // ~4 ms for a batch of 500 receipts.
  const write = db.batch();
  let freed = 0;
  for (const [i, key] of batch.receiptKeys.entries()) {
    const size = sizes[i];
    const id = batch.receiptIds[i]!;
    if (size !== undefined) freed += receiptCost(key, id, size);
    write.del(key);
    write.del(indexKey(id));
  }
  const ackedAt = now();
  write.del(META_IN_FLIGHT);
  write.put(META_LAST_ACK, encodeNumber(ackedAt));
  await write.write(SYNC);
  return { freed, ackedAt };
}

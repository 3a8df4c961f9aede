import type { Ack } from '../../protocol/ack.js';
import { OutboxAckError } from './errors.js';
import type { InFlightBatch } from './records.js';

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/**
 * Verifies an ack (via `verify`, which throws on a bad signature or body) and checks that it
 * answers exactly `inFlight`: same header hash, our provider key, one entry per receipt in
 * leaf order. Returns the ack; throws OutboxAckError, so the caller removes nothing.
 */
export function checkAckMatches(
  verify: () => Ack,
  inFlight: InFlightBatch | undefined,
  providerKey: Uint8Array,
): Ack {
  if (inFlight === undefined) {
    throw new OutboxAckError(
      'OUTBOX_NO_BATCH_IN_FLIGHT',
      'acknowledgement received but no batch is in flight; it was ignored (a late duplicate?)',
    );
  }
  let ack: Ack;
  try {
    ack = verify();
  } catch (err) {
    throw new OutboxAckError(
      'OUTBOX_ACK_INVALID',
      `acknowledgement for batch ${inFlight.batchSequence} rejected, nothing removed: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const mismatch = (what: string): OutboxAckError =>
    new OutboxAckError(
      'OUTBOX_ACK_MISMATCH',
      `acknowledgement does not answer in-flight batch ${inFlight.batchSequence} (${what}); nothing removed`,
    );
  if (!sameBytes(ack.batchHeaderHash, inFlight.headerHash)) throw mismatch('another batch header hash');
  if (!sameBytes(ack.providerKey, providerKey)) throw mismatch('another provider key');
  if (ack.receipts.length !== inFlight.receiptIds.length) {
    throw mismatch(`${ack.receipts.length} entries for ${inFlight.receiptIds.length} receipts`);
  }
  ack.receipts.forEach((entry, i) => {
    if (!sameBytes(entry.receiptId, inFlight.receiptIds[i]!))
      throw mismatch(`entry ${i} names another receipt`);
  });
  return ack;
}

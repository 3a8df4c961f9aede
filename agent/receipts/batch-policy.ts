import { DEFAULT_MAX_RECEIPTS } from '../../protocol/submission.js';

/**
 * When the outbox cuts a batch. Pure: the outbox hands in what is pending (oldest first)
 * and the clock; this decides how many of those receipts go into the next batch.
 */
export interface BatchPolicy {
  /** Most receipts in one batch; a full batch is cut at once. ≤ DEFAULT_MAX_RECEIPTS. */
  readonly maxReceipts: number;
  /** A batch is cut, however small, once its oldest receipt has waited this long. */
  readonly maxAgeMs: number;
  /** Upper bound on the encoded submission, envelope included. */
  readonly maxBytes: number;
}

export interface PendingReceipt {
  /** Length of the encoded receipt body. */
  readonly bodyBytes: number;
  /** When the outbox stored it (the outbox clock, Unix epoch milliseconds). */
  readonly appendedAtMs: number;
}

/**
 * Bound on the submission bytes that are not receipt bodies: outer array (1), header bytes
 * as a bstr (≤ 2 + 96: array head, two 34-byte bstr keys/roots, three uints of ≤ 9 bytes),
 * signature bstr (2 + 64) and the receipt array head (≤ 5). Rounded up.
 */
export const SUBMISSION_ENVELOPE_BYTES = 192;

/** Bytes a receipt body takes inside the submission: the body plus its CBOR bstr head. */
export function encodedReceiptBytes(bodyBytes: number): number {
  if (bodyBytes < 24) return bodyBytes + 1;
  if (bodyBytes < 0x100) return bodyBytes + 2;
  if (bodyBytes < 0x10000) return bodyBytes + 3;
  return bodyBytes + 5;
}

/** Every problem with `policy`, each naming its field; empty when the policy is usable. */
export function batchPolicyProblems(policy: BatchPolicy): string[] {
  const problems: string[] = [];
  const intIn = (name: keyof BatchPolicy, min: number, max: number): void => {
    const v = policy[name];
    if (!(Number.isSafeInteger(v) && v >= min && v <= max)) {
      problems.push(`${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
    }
  };
  intIn('maxReceipts', 1, DEFAULT_MAX_RECEIPTS);
  intIn('maxAgeMs', 0, Number.MAX_SAFE_INTEGER);
  intIn('maxBytes', SUBMISSION_ENVELOPE_BYTES + 1, Number.MAX_SAFE_INTEGER);
  return problems;
}

/**
 * How many of `pending` (oldest first) go into the next batch; 0 means "not yet".
 *
 * The candidate batch is the longest prefix within maxReceipts and maxBytes. It is cut when
 * it is full (by count, or because the next receipt would not fit in maxBytes) or when the
 * oldest receipt is maxAgeMs old. A single receipt larger than maxBytes alone is cut by
 * itself rather than blocking the outbox forever; settlement judges it.
 */
export function receiptsToCut(
  pending: readonly PendingReceipt[],
  policy: BatchPolicy,
  nowMs: number,
  /** An operator asked to send now (`fieldmesh receipts flush`): a partial batch is due too. */
  cutNow = false,
): number {
  const oldest = pending[0];
  if (oldest === undefined) return 0;
  let bytes = SUBMISSION_ENVELOPE_BYTES;
  let count = 0;
  let full = false;
  for (const receipt of pending) {
    if (count === policy.maxReceipts) {
      full = true;
      break;
    }
    const next = bytes + encodedReceiptBytes(receipt.bodyBytes);
    if (next > policy.maxBytes) {
      full = true;
      if (count === 0) count = 1;
      break;
    }
    bytes = next;
    count++;
  }
  if (count === policy.maxReceipts) full = true;
  if (full || cutNow || nowMs - oldest.appendedAtMs >= policy.maxAgeMs) return count;
  return 0;
}

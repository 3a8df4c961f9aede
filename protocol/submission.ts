import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';

/**
 * The body an agent POSTs to the settlement service: one signed batch with its receipts.
 *
 *   [0] headerBytes     bstr            the batch header exactly as signed (batch.ts)
 *   [1] signature       bstr            Ed25519 over "fieldmesh/batch/v1" ‖ 0x00 ‖ headerBytes
 *   [2] receiptBodies   [* bstr]        receipt bodies (receipt.ts) in batch (leaf) order
 *
 * Header and receipt bodies travel as byte strings and are never re-encoded: the service
 * checks the signature over the header bytes and hashes each body as received (receipt id =
 * sha256 of the body). This module checks only the envelope's shape; the signature, the
 * Merkle root and the receipt contents are checked by settlement/verify.
 */
export const DEFAULT_MAX_RECEIPTS = 10_000;
const FIELD_COUNT = 3;
// Outer array (depth 0) holds the receipt array (depth 1) of byte strings.
const MAX_DEPTH = 2;

export interface Submission {
  readonly headerBytes: Uint8Array;
  readonly signature: Uint8Array;
  readonly receiptBodies: readonly Uint8Array[];
}

export interface SubmissionOptions {
  /** Most receipts accepted in one submission. Default DEFAULT_MAX_RECEIPTS. */
  readonly maxReceipts?: number;
}

/**
 * Codes: `SUBMISSION_MALFORMED` — not canonical CBOR (truncated, trailing bytes, …) or not
 * the three-field shape above; `SUBMISSION_TOO_LARGE` — more receipts than the limit.
 */
export type SubmissionErrorCode = 'SUBMISSION_MALFORMED' | 'SUBMISSION_TOO_LARGE';

export class SubmissionError extends FieldmeshError {
  constructor(code: SubmissionErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

function limitOf(options: SubmissionOptions): number {
  return options.maxReceipts ?? DEFAULT_MAX_RECEIPTS;
}

function tooLarge(count: number, limit: number): SubmissionError {
  return new SubmissionError(
    'SUBMISSION_TOO_LARGE',
    `submission carries ${count} receipts, more than the limit of ${limit}; split it into smaller batches`,
  );
}

function malformed(message: string, cause?: unknown): SubmissionError {
  return new SubmissionError(
    'SUBMISSION_MALFORMED',
    `submission rejected: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Encodes a submission; throws SubmissionError on an empty or oversized receipt list. */
export function encodeSubmission(submission: Submission, options: SubmissionOptions = {}): Uint8Array {
  const limit = limitOf(options);
  const count = submission.receiptBodies.length;
  if (count === 0) throw malformed('a submission carries at least one receipt');
  if (count > limit) throw tooLarge(count, limit);
  return encodeCbor([submission.headerBytes, submission.signature, [...submission.receiptBodies]]);
}

/**
 * Decodes a submission envelope (canonical CBOR only). Throws SubmissionError:
 * `SUBMISSION_MALFORMED` for anything that is not the documented shape,
 * `SUBMISSION_TOO_LARGE` when the receipt count exceeds the limit.
 */
export function decodeSubmission(bytes: Uint8Array, options: SubmissionOptions = {}): Submission {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(bytes, { maxDepth: MAX_DEPTH });
  } catch (err) {
    throw malformed(`not canonical CBOR: ${(err as Error).message}`, err);
  }
  if (!Array.isArray(decoded) || decoded.length !== FIELD_COUNT) {
    throw malformed(`must be an array of ${FIELD_COUNT} fields [headerBytes, signature, [receipt…]]`);
  }
  const [headerBytes, signature, bodies] = decoded as readonly CborValue[];
  if (!(headerBytes instanceof Uint8Array)) throw malformed('field 0 (headerBytes) must be a byte string');
  if (!(signature instanceof Uint8Array)) throw malformed('field 1 (signature) must be a byte string');
  if (!Array.isArray(bodies)) throw malformed('field 2 (receipts) must be an array of byte strings');
  const receiptBodies = bodies as readonly CborValue[];
  const limit = limitOf(options);
  if (receiptBodies.length > limit) throw tooLarge(receiptBodies.length, limit);
  if (receiptBodies.length === 0) throw malformed('a submission carries at least one receipt');
  const bad = receiptBodies.findIndex((b) => !(b instanceof Uint8Array));
  if (bad >= 0) throw malformed(`receipt ${bad} must be a byte string`);
  return { headerBytes, signature, receiptBodies: receiptBodies as readonly Uint8Array[] };
}

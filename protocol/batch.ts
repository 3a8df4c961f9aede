import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';
import { merkleRoot } from './merkle.js';
import { sign, verify } from './signatures.js';

/**
 * A batch header commits a provider to a set of receipts: the RFC 6962 Merkle root over
 * their receipt ids (merkle.ts) and the leaf count, signed once with the provider's key.
 * The leaf count is signed together with the root because an inclusion proof alone does not
 * pin the tree size (RFC 9162 §2.1.3.2 accepts any size with the same path shape).
 *
 * Header body (canonical CBOR array, cbor.ts):
 *
 *   [0] providerKey     bstr .size 32   Ed25519 public key; also the key that verifies
 *   [1] batchSequence   uint            per provider, strictly increasing
 *   [2] leafCount       uint, ≥ 1
 *   [3] merkleRoot      bstr .size 32   MTH over the receipt ids, in batch order
 *   [4] createdAtMs     uint            Unix epoch milliseconds
 *
 * Signature: Ed25519 over `"fieldmesh/batch/v1" ‖ 0x00 ‖ headerBytes` (signatures.ts). The
 * header bytes travel with the signature and are verified as received, never re-encoded.
 */
export const BATCH_DOMAIN_TAG = 'fieldmesh/batch/v1';
const HEADER_FIELD_COUNT = 5;

export interface BatchHeader {
  readonly providerKey: Uint8Array;
  readonly batchSequence: number;
  readonly leafCount: number;
  readonly merkleRoot: Uint8Array;
  readonly createdAtMs: number;
}

export interface SignedBatchHeader {
  readonly headerBytes: Uint8Array;
  readonly signature: Uint8Array;
}

export type BatchErrorCode = 'BATCH_INVALID' | 'BATCH_SIGNATURE_INVALID' | 'BATCH_LEAVES_MISMATCH';

export class BatchError extends FieldmeshError {
  constructor(code: BatchErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

function headerProblems(h: Readonly<Record<keyof BatchHeader, unknown>>): string[] {
  const problems: string[] = [];
  const bytes32 = (name: keyof BatchHeader): void => {
    const v = h[name];
    if (!(v instanceof Uint8Array && v.length === 32)) problems.push(`${name} must be 32 bytes`);
  };
  const uint = (name: keyof BatchHeader, min: number): void => {
    const v = h[name];
    if (!(typeof v === 'number' && Number.isSafeInteger(v) && v >= min)) {
      problems.push(`${name} must be an integer in [${min}, 2^53 - 1]`);
    }
  };
  bytes32('providerKey');
  uint('batchSequence', 0);
  uint('leafCount', 1);
  bytes32('merkleRoot');
  uint('createdAtMs', 0);
  return problems;
}

function invalid(problems: readonly string[]): BatchError {
  return new BatchError('BATCH_INVALID', `batch header rejected: ${problems.join('; ')}`);
}

/** Validates and encodes a header body; throws BatchError('BATCH_INVALID'). */
export function encodeBatchHeader(header: BatchHeader): Uint8Array {
  const problems = headerProblems(header);
  if (problems.length > 0) throw invalid(problems);
  return encodeCbor([
    header.providerKey,
    header.batchSequence,
    header.leafCount,
    header.merkleRoot,
    header.createdAtMs,
  ]);
}

/** Decodes and validates a header body; throws BatchError('BATCH_INVALID'). */
export function decodeBatchHeader(headerBytes: Uint8Array): BatchHeader {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(headerBytes, { maxDepth: 1 });
  } catch (err) {
    throw new BatchError('BATCH_INVALID', `batch header is not canonical CBOR: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!Array.isArray(decoded) || decoded.length !== HEADER_FIELD_COUNT) {
    throw invalid([`body must be an array of ${HEADER_FIELD_COUNT} fields`]);
  }
  const [providerKey, batchSequence, leafCount, root, createdAtMs] = decoded as readonly CborValue[];
  const fields = { providerKey, batchSequence, leafCount, merkleRoot: root, createdAtMs };
  const problems = headerProblems(fields);
  if (problems.length > 0) throw invalid(problems);
  return fields as BatchHeader;
}

/**
 * Builds and signs the header for `receiptIds` (in batch order). `secretKey` is the
 * provider's 64-byte tweetnacl secret key; its public half becomes `providerKey`.
 */
export function signBatch(
  receiptIds: readonly Uint8Array[],
  options: { secretKey: Uint8Array; batchSequence: number; createdAtMs: number },
): SignedBatchHeader & { header: BatchHeader } {
  if (options.secretKey.length !== 64) {
    throw new BatchError('BATCH_INVALID', `the provider secret key must be 64 bytes (seed ‖ public key)`);
  }
  const header: BatchHeader = {
    providerKey: options.secretKey.slice(32, 64),
    batchSequence: options.batchSequence,
    leafCount: receiptIds.length,
    merkleRoot: merkleRoot(receiptIds),
    createdAtMs: options.createdAtMs,
  };
  const headerBytes = encodeBatchHeader(header);
  return { header, headerBytes, signature: sign(BATCH_DOMAIN_TAG, headerBytes, options.secretKey) };
}

/**
 * Decodes `headerBytes` and checks the provider's signature over exactly those bytes.
 * Returns the header; throws BatchError ('BATCH_INVALID' or 'BATCH_SIGNATURE_INVALID').
 */
export function verifyBatchHeader(signed: SignedBatchHeader): BatchHeader {
  const header = decodeBatchHeader(signed.headerBytes);
  if (!verify(BATCH_DOMAIN_TAG, signed.headerBytes, signed.signature, header.providerKey)) {
    throw new BatchError(
      'BATCH_SIGNATURE_INVALID',
      `batch ${header.batchSequence}: signature does not verify under the provider key in its header`,
    );
  }
  return header;
}

/** Checks that `receiptIds` are exactly the header's leaves; throws BatchError('BATCH_LEAVES_MISMATCH'). */
export function checkBatchLeaves(header: BatchHeader, receiptIds: readonly Uint8Array[]): void {
  if (receiptIds.length !== header.leafCount) {
    throw new BatchError(
      'BATCH_LEAVES_MISMATCH',
      `batch ${header.batchSequence}: header commits to ${header.leafCount} receipts, got ${receiptIds.length}`,
    );
  }
  const root = merkleRoot(receiptIds);
  if (Buffer.compare(root, header.merkleRoot) !== 0) {
    throw new BatchError(
      'BATCH_LEAVES_MISMATCH',
      `batch ${header.batchSequence}: the receipt ids do not hash to the signed Merkle root`,
    );
  }
}

import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';
import { sha256 } from './sha256.js';

/**
 * A receipt records one inference job (DESIGN.md "Wire protocol"). Receipts are not signed
 * one by one: the receipt id is a leaf of the Merkle tree whose root the provider signs once
 * per batch (see batch.ts).
 *
 * Body (canonical CBOR array, cbor.ts), in this order:
 *
 *   [0] version            uint, = 1
 *   [1] providerKey        bstr .size 32   Ed25519 public key of the node that ran the job
 *   [2] consumerKey        bstr .size 32   Ed25519 public key of the node it ran for
 *   [3] pipelineId         tstr, 1–128 UTF-8 bytes
 *   [4] sequence           uint            per (provider, pipeline), strictly increasing
 *   [5] modelSha256        bstr .size 32   sha256 of the .onnx bytes
 *   [6] inputDigest        bstr .size 32   sha256 of the input tensors
 *   [7] outputDigest       bstr .size 32   sha256 of the output tensors
 *   [8] startTimeMs        uint            Unix epoch milliseconds
 *   [9] computeTimeUs      uint            microseconds of inference
 *  [10] sampleCount        uint, ≥ 1
 *
 * Every uint is at most 2^53 − 1 so that it is a plain JS number. The receipt id is
 * sha256 of the exact encoded body bytes; dedup and equivocation checks key on it.
 */
export const RECEIPT_VERSION = 1;
const RECEIPT_FIELD_COUNT = 11;
const DIGEST_LENGTH = 32;
const KEY_LENGTH = 32;
const MAX_PIPELINE_ID_BYTES = 128;

export interface Receipt {
  readonly version: typeof RECEIPT_VERSION;
  readonly providerKey: Uint8Array;
  readonly consumerKey: Uint8Array;
  readonly pipelineId: string;
  readonly sequence: number;
  readonly modelSha256: Uint8Array;
  readonly inputDigest: Uint8Array;
  readonly outputDigest: Uint8Array;
  readonly startTimeMs: number;
  readonly computeTimeUs: number;
  readonly sampleCount: number;
}

export class ReceiptInvalidError extends FieldmeshError {
  /** Every problem found, each naming its field. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super('RECEIPT_INVALID', `receipt rejected: ${problems.join('; ')}`, options);
    this.problems = problems;
  }
}

type Check = (value: unknown) => string | null;

const bytesOf =
  (length: number): Check =>
  (v) =>
    v instanceof Uint8Array && v.length === length ? null : `must be ${length} bytes`;

const uint =
  (min: number): Check =>
  (v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min
      ? null
      : `must be an integer in [${min}, 2^53 - 1]`;

const pipelineIdCheck: Check = (v) => {
  if (typeof v !== 'string') return 'must be a string';
  const n = new TextEncoder().encode(v).length;
  return n >= 1 && n <= MAX_PIPELINE_ID_BYTES ? null : `must be 1-${MAX_PIPELINE_ID_BYTES} UTF-8 bytes`;
};

const FIELDS: readonly (readonly [keyof Receipt, Check])[] = [
  ['version', (v) => (v === RECEIPT_VERSION ? null : `must be ${RECEIPT_VERSION}`)],
  ['providerKey', bytesOf(KEY_LENGTH)],
  ['consumerKey', bytesOf(KEY_LENGTH)],
  ['pipelineId', pipelineIdCheck],
  ['sequence', uint(0)],
  ['modelSha256', bytesOf(DIGEST_LENGTH)],
  ['inputDigest', bytesOf(DIGEST_LENGTH)],
  ['outputDigest', bytesOf(DIGEST_LENGTH)],
  ['startTimeMs', uint(0)],
  ['computeTimeUs', uint(0)],
  ['sampleCount', uint(1)],
];

function problemsOf(values: readonly unknown[]): string[] {
  const problems: string[] = [];
  FIELDS.forEach(([name, check], i) => {
    const problem = check(values[i]);
    if (problem !== null) problems.push(`${name} (field ${i}) ${problem}`);
  });
  return problems;
}

/** Validates and encodes a receipt body; throws ReceiptInvalidError listing every bad field. */
export function encodeReceipt(receipt: Receipt): Uint8Array {
  const values = FIELDS.map(([name]) => receipt[name]);
  const problems = problemsOf(values);
  if (problems.length > 0) throw new ReceiptInvalidError(problems);
  return encodeCbor(values as CborValue[]);
}

/** Decodes and validates a receipt body (canonical CBOR only); throws ReceiptInvalidError. */
export function decodeReceipt(body: Uint8Array): Receipt {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(body, { maxDepth: 1 });
  } catch (err) {
    throw new ReceiptInvalidError([`body is not canonical CBOR: ${(err as Error).message}`], { cause: err });
  }
  if (!Array.isArray(decoded) || decoded.length !== RECEIPT_FIELD_COUNT) {
    throw new ReceiptInvalidError([`body must be an array of ${RECEIPT_FIELD_COUNT} fields`]);
  }
  const values = decoded as readonly CborValue[];
  const problems = problemsOf(values);
  if (problems.length > 0) throw new ReceiptInvalidError(problems);
  const receipt: Record<string, unknown> = {};
  FIELDS.forEach(([name], i) => {
    receipt[name] = values[i];
  });
  return receipt as unknown as Receipt;
}

/** The receipt id: sha256 of the exact body bytes (never of a re-encoding). */
export function receiptId(body: Uint8Array): Uint8Array {
  return sha256(body);
}

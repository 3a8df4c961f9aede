import { createHash } from 'node:crypto';
import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';
import { signNode, verify } from './signatures.js';

/**
 * The settlement service's signed acknowledgement of one submission (DESIGN.md "Wire
 * protocol": "answers with a signed acknowledgement giving a status per receipt").
 *
 * Body (canonical CBOR array, cbor.ts):
 *
 *   [0] batchHeaderHash  bstr .size 32   sha256 of the exact batch header bytes submitted
 *   [1] providerKey      bstr .size 32   the batch signer
 *   [2] receipts         [* [bstr .size 32, uint]]  (receipt id, status code), batch order
 *   [3] acceptedAtMs     uint            Unix epoch milliseconds, service clock
 *
 * Signature: Ed25519 by the service key over `"fieldmesh/ack/v1" ‖ 0x00 ‖ ackBytes`
 * (signatures.ts), verified over the bytes as received.
 */
export const ACK_DOMAIN_TAG = 'fieldmesh/ack/v1';
const FIELD_COUNT = 4;
const HASH_LENGTH = 32;
const KEY_LENGTH = 32;
// Outer array (0) → receipt list (1) → (id, code) pairs (2).
const MAX_DEPTH = 3;

/**
 * Wire codes of the per-receipt statuses. Codes are never renumbered or reused; a new
 * status gets the next free number.
 *
 * | code | status                | meaning                                                  |
 * |------|-----------------------|----------------------------------------------------------|
 * | 0    | valid                 | credited                                                 |
 * | 1    | duplicate             | this receipt id was already credited; not credited again |
 * | 2    | equivocation          | another body was seen for its (provider, pipeline, sequence) |
 * | 3    | outside_time_window   | start time too far in the past or future                 |
 * | 4    | malformed             | the body is not a valid receipt                          |
 * | 5    | unknown_model         | its model digest is not registered with the service, so it cannot be spot-checked |
 */
export const RECEIPT_STATUS_CODES = Object.freeze({
  valid: 0,
  duplicate: 1,
  equivocation: 2,
  outside_time_window: 3,
  malformed: 4,
  unknown_model: 5,
} as const);

export type ReceiptStatus = keyof typeof RECEIPT_STATUS_CODES;

const STATUS_BY_CODE: ReadonlyMap<number, ReceiptStatus> = new Map(
  (Object.entries(RECEIPT_STATUS_CODES) as [ReceiptStatus, number][]).map(([s, c]) => [c, s]),
);

export interface AckEntry {
  readonly receiptId: Uint8Array;
  readonly status: ReceiptStatus;
}

export interface Ack {
  readonly batchHeaderHash: Uint8Array;
  readonly providerKey: Uint8Array;
  readonly receipts: readonly AckEntry[];
  readonly acceptedAtMs: number;
}

export interface SignedAck {
  readonly ackBytes: Uint8Array;
  readonly signature: Uint8Array;
}

export type AckErrorCode = 'ACK_INVALID' | 'ACK_SIGNATURE_INVALID';

export class AckError extends FieldmeshError {
  constructor(code: AckErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** sha256 of the exact batch header bytes: field 0 of the ack. */
export function batchHeaderHash(headerBytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(headerBytes).digest());
}

function isBytes(v: unknown, length: number): v is Uint8Array {
  return v instanceof Uint8Array && v.length === length;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function invalid(problems: readonly string[], cause?: unknown): AckError {
  return new AckError(
    'ACK_INVALID',
    `ack rejected: ${problems.join('; ')}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Validates and encodes an ack body; throws AckError('ACK_INVALID'). */
export function encodeAck(ack: Ack): Uint8Array {
  const problems: string[] = [];
  if (!isBytes(ack.batchHeaderHash, HASH_LENGTH)) problems.push('batchHeaderHash must be 32 bytes');
  if (!isBytes(ack.providerKey, KEY_LENGTH)) problems.push('providerKey must be 32 bytes');
  if (!isUint(ack.acceptedAtMs)) problems.push('acceptedAtMs must be an integer in [0, 2^53 - 1]');
  const entries: CborValue[] = [];
  ack.receipts.forEach((entry, i) => {
    const code = RECEIPT_STATUS_CODES[entry.status] as number | undefined;
    if (!isBytes(entry.receiptId, HASH_LENGTH)) problems.push(`receipts[${i}] id must be 32 bytes`);
    if (code === undefined) problems.push(`receipts[${i}] status ${JSON.stringify(entry.status)} is unknown`);
    else entries.push([entry.receiptId, code]);
  });
  if (problems.length > 0) throw invalid(problems);
  return encodeCbor([ack.batchHeaderHash, ack.providerKey, entries, ack.acceptedAtMs]);
}

function decodeEntry(value: CborValue, i: number, problems: string[]): AckEntry | undefined {
  if (!Array.isArray(value) || value.length !== 2) {
    problems.push(`receipts[${i}] must be a [receiptId, statusCode] pair`);
    return undefined;
  }
  const [receiptId, code] = value as readonly CborValue[];
  const status = typeof code === 'number' ? STATUS_BY_CODE.get(code) : undefined;
  if (!isBytes(receiptId, HASH_LENGTH)) problems.push(`receipts[${i}] id must be 32 bytes`);
  if (status === undefined) problems.push(`receipts[${i}] status code ${String(code)} is unknown`);
  if (!isBytes(receiptId, HASH_LENGTH) || status === undefined) return undefined;
  return { receiptId, status };
}

/** Decodes and validates an ack body (canonical CBOR only); throws AckError('ACK_INVALID'). */
export function decodeAck(ackBytes: Uint8Array): Ack {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(ackBytes, { maxDepth: MAX_DEPTH });
  } catch (err) {
    throw invalid([`body is not canonical CBOR: ${(err as Error).message}`], err);
  }
  if (!Array.isArray(decoded) || decoded.length !== FIELD_COUNT) {
    throw invalid([`body must be an array of ${FIELD_COUNT} fields`]);
  }
  const [hash, providerKey, list, acceptedAtMs] = decoded as readonly CborValue[];
  const problems: string[] = [];
  if (!isBytes(hash, HASH_LENGTH)) problems.push('batchHeaderHash must be 32 bytes');
  if (!isBytes(providerKey, KEY_LENGTH)) problems.push('providerKey must be 32 bytes');
  if (!isUint(acceptedAtMs)) problems.push('acceptedAtMs must be an integer in [0, 2^53 - 1]');
  const receipts: AckEntry[] = [];
  if (!Array.isArray(list)) problems.push('receipts must be an array');
  else {
    (list as readonly CborValue[]).forEach((item, i) => {
      const entry = decodeEntry(item, i, problems);
      if (entry !== undefined) receipts.push(entry);
    });
  }
  if (problems.length > 0) throw invalid(problems);
  return {
    batchHeaderHash: hash as Uint8Array,
    providerKey: providerKey as Uint8Array,
    receipts,
    acceptedAtMs: acceptedAtMs as number,
  };
}

/** Encodes and signs `ack` with the service's 64-byte secret key (seed ‖ public key). */
export function signAck(ack: Ack, serviceSecretKey: Uint8Array): SignedAck {
  const ackBytes = encodeAck(ack);
  return { ackBytes, signature: signNode(ACK_DOMAIN_TAG, ackBytes, serviceSecretKey) };
}

/**
 * Checks the service signature over exactly `ackBytes`, then decodes them. Throws AckError
 * ('ACK_SIGNATURE_INVALID' or 'ACK_INVALID').
 */
export function verifyAck(signed: SignedAck, servicePublicKey: Uint8Array): Ack {
  if (!verify(ACK_DOMAIN_TAG, signed.ackBytes, signed.signature, servicePublicKey)) {
    throw new AckError(
      'ACK_SIGNATURE_INVALID',
      'acknowledgement signature does not verify under the settlement service key; check the configured service key',
    );
  }
  return decodeAck(signed.ackBytes);
}

/** The HTTP body of an acknowledgement: the CBOR array [ackBytes, signature] (docs/protocol.md §8.2). */
export function encodeSignedAck(signed: SignedAck): Uint8Array {
  return encodeCbor([signed.ackBytes, signed.signature]);
}

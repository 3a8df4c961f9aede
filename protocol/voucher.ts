import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';
import { sign, verify } from './signatures.js';

/**
 * A cumulative voucher (DESIGN.md "Wire protocol"): during an offload session the consumer
 * periodically signs the running totals of the work the provider has done for it. Like a
 * payment-channel voucher or a Golem debit note, each voucher restates everything so far, so
 * the latest one supersedes all earlier ones and a lost voucher loses nothing.
 *
 * Body (canonical CBOR array, cbor.ts), in this order:
 *
 *   [0] consumerKey             bstr .size 32   Ed25519 public key of the signer
 *   [1] providerKey             bstr .size 32   Ed25519 public key of the node doing the work
 *   [2] sessionId               bstr .size 16   chosen when the session opens
 *   [3] sequence                uint            per session, strictly increasing
 *   [4] jobs                    uint            jobs so far in the session
 *   [5] computeUs               uint            microseconds of compute so far
 *   [6] highestReceiptSequence  uint            highest receipt sequence covered
 *   [7] issuedAtMs              uint            Unix epoch milliseconds
 *
 * Every uint is at most 2^53 − 1. Signature: Ed25519 by the consumer over
 * `"fieldmesh/voucher/v1" ‖ 0x00 ‖ voucherBytes`, verified over the bytes as received.
 */
export const VOUCHER_DOMAIN_TAG = 'fieldmesh/voucher/v1';
export const SESSION_ID_LENGTH = 16;
const KEY_LENGTH = 32;

export interface Voucher {
  readonly consumerKey: Uint8Array;
  readonly providerKey: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly sequence: number;
  readonly jobs: number;
  readonly computeUs: number;
  readonly highestReceiptSequence: number;
  readonly issuedAtMs: number;
}

export type VoucherField = keyof Voucher;

export interface SignedVoucher {
  readonly voucherBytes: Uint8Array;
  readonly signature: Uint8Array;
}

/** One problem, naming the field (or `body` for the encoding as a whole). */
export interface VoucherProblem {
  readonly field: VoucherField | 'body';
  readonly message: string;
}

export type VoucherErrorCode = 'VOUCHER_INVALID' | 'VOUCHER_SIGNATURE_INVALID' | 'VOUCHER_KEY_MISMATCH';

export class VoucherError extends FieldmeshError {
  /** Every problem found; empty for signature failures. */
  readonly problems: readonly VoucherProblem[];
  /** The first field at fault, so callers can branch without parsing the message. */
  readonly field: VoucherField | 'body' | undefined;

  constructor(
    code: VoucherErrorCode,
    message: string,
    problems: readonly VoucherProblem[] = [],
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.problems = problems;
    this.field = problems[0]?.field;
  }
}

// Field order is the wire order; never reorder.
const FIELD_ORDER: readonly VoucherField[] = [
  'consumerKey',
  'providerKey',
  'sessionId',
  'sequence',
  'jobs',
  'computeUs',
  'highestReceiptSequence',
  'issuedAtMs',
];

function isBytes(v: unknown, length: number): v is Uint8Array {
  return v instanceof Uint8Array && v.length === length;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function problemsOf(v: Readonly<Record<VoucherField, unknown>>): VoucherProblem[] {
  const problems: VoucherProblem[] = [];
  for (const field of FIELD_ORDER) {
    const value = v[field];
    if (field === 'consumerKey' || field === 'providerKey') {
      if (!isBytes(value, KEY_LENGTH)) problems.push({ field, message: `must be ${KEY_LENGTH} bytes` });
    } else if (field === 'sessionId') {
      if (!isBytes(value, SESSION_ID_LENGTH)) {
        problems.push({ field, message: `must be ${SESSION_ID_LENGTH} bytes` });
      }
    } else if (!isUint(value)) {
      problems.push({ field, message: 'must be an integer in [0, 2^53 - 1]' });
    }
  }
  const { consumerKey, providerKey } = v;
  if (isBytes(consumerKey, KEY_LENGTH) && isBytes(providerKey, KEY_LENGTH)) {
    if (Buffer.compare(consumerKey, providerKey) === 0) {
      // A node does not offload to itself; such a voucher could only inflate its own credit.
      problems.push({ field: 'providerKey', message: 'must differ from consumerKey' });
    }
  }
  return problems;
}

function invalid(problems: readonly VoucherProblem[], cause?: unknown): VoucherError {
  const text = problems.map((p) => `${p.field} ${p.message}`).join('; ');
  return new VoucherError(
    'VOUCHER_INVALID',
    `voucher rejected: ${text}`,
    problems,
    cause === undefined ? undefined : { cause },
  );
}

/** Validates and encodes a voucher body; throws VoucherError('VOUCHER_INVALID') naming each bad field. */
export function encodeVoucher(voucher: Voucher): Uint8Array {
  const problems = problemsOf(voucher);
  if (problems.length > 0) throw invalid(problems);
  return encodeCbor(FIELD_ORDER.map((field) => voucher[field]));
}

/** Decodes and validates a voucher body (canonical CBOR only); throws VoucherError('VOUCHER_INVALID'). */
export function decodeVoucher(voucherBytes: Uint8Array): Voucher {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(voucherBytes, { maxDepth: 1 });
  } catch (err) {
    throw invalid([{ field: 'body', message: `is not canonical CBOR: ${(err as Error).message}` }], err);
  }
  if (!Array.isArray(decoded) || decoded.length !== FIELD_ORDER.length) {
    throw invalid([{ field: 'body', message: `must be an array of ${FIELD_ORDER.length} fields` }]);
  }
  const values = decoded as readonly CborValue[];
  const fields = Object.fromEntries(FIELD_ORDER.map((field, i) => [field, values[i]])) as Record<
    VoucherField,
    unknown
  >;
  const problems = problemsOf(fields);
  if (problems.length > 0) throw invalid(problems);
  return fields as unknown as Voucher;
}

/**
 * Encodes and signs `voucher` with the consumer's 64-byte tweetnacl secret key, whose public
 * half must be `voucher.consumerKey`.
 */
export function signVoucher(voucher: Voucher, secretKey: Uint8Array): SignedVoucher {
  const voucherBytes = encodeVoucher(voucher);
  if (secretKey.length !== 64 || Buffer.compare(secretKey.subarray(32), voucher.consumerKey) !== 0) {
    throw new VoucherError(
      'VOUCHER_KEY_MISMATCH',
      'the secret key must be the 64-byte key (seed ‖ public key) of the voucher consumerKey',
    );
  }
  return { voucherBytes, signature: sign(VOUCHER_DOMAIN_TAG, voucherBytes, secretKey) };
}

/**
 * Decodes `voucherBytes` and checks the consumer's signature over exactly those bytes.
 * Returns the voucher; throws VoucherError ('VOUCHER_INVALID' or 'VOUCHER_SIGNATURE_INVALID').
 */
export function verifyVoucher(signed: SignedVoucher): Voucher {
  const voucher = decodeVoucher(signed.voucherBytes);
  if (!verify(VOUCHER_DOMAIN_TAG, signed.voucherBytes, signed.signature, voucher.consumerKey)) {
    throw new VoucherError(
      'VOUCHER_SIGNATURE_INVALID',
      `voucher ${voucher.sequence}: signature does not verify under the consumer key in its body`,
    );
  }
  return voucher;
}

/**
 * How voucher `a` relates to an earlier-held voucher `b`:
 * - `supersedes`: same session and parties, a.sequence > b.sequence, no total went down;
 * - `stale`: same session and parties, a.sequence ≤ b.sequence with nothing contradictory;
 * - `unrelated`: a different session or different parties, so the two do not compare;
 * - `invalid`: a is newer but a total went down, or the same sequence carries other totals —
 *   the consumer signed two incompatible statements, and `a` must not replace `b`.
 */
export type SupersedeVerdict =
  | { readonly verdict: 'supersedes' }
  | { readonly verdict: 'stale' }
  | {
      readonly verdict: 'unrelated';
      readonly field: 'consumerKey' | 'providerKey' | 'sessionId';
      readonly reason: string;
    }
  | {
      readonly verdict: 'invalid';
      readonly field: VoucherField;
      readonly reason: string;
    };

const TOTALS = ['jobs', 'computeUs', 'highestReceiptSequence'] as const;

/** Compares two (already verified) vouchers; see SupersedeVerdict. Pure, never throws. */
export function compareVouchers(a: Voucher, b: Voucher): SupersedeVerdict {
  for (const field of ['sessionId', 'consumerKey', 'providerKey'] as const) {
    if (Buffer.compare(a[field], b[field]) !== 0) {
      return { verdict: 'unrelated', field, reason: `${field} differs` };
    }
  }
  if (a.sequence > b.sequence) {
    for (const field of TOTALS) {
      if (a[field] < b[field]) {
        return {
          verdict: 'invalid',
          field,
          reason: `${field} went down from ${b[field]} (voucher ${b.sequence}) to ${a[field]} (voucher ${a.sequence}); totals are cumulative`,
        };
      }
    }
    return { verdict: 'supersedes' };
  }
  if (a.sequence === b.sequence) {
    for (const field of [...TOTALS, 'issuedAtMs'] as const) {
      if (a[field] !== b[field]) {
        return {
          verdict: 'invalid',
          field,
          reason: `voucher ${a.sequence} was signed twice with different ${field} (${b[field]} and ${a[field]})`,
        };
      }
    }
  }
  return { verdict: 'stale' };
}

/** True when `a` replaces `b`: same session and parties, newer, and no total went down. */
export function supersedes(a: Voucher, b: Voucher): boolean {
  return compareVouchers(a, b).verdict === 'supersedes';
}

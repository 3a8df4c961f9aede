import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';

/**
 * Spot-check messages (docs/protocol.md §11).
 *
 * Reveal — what a provider POSTs when one of its receipts is challenged:
 *
 *   [0] receiptId     bstr .size 32   the challenged receipt
 *   [1] inputBytes    bstr            the input tensor bytes of §4.2 (≤ 16 MiB)
 *   [2] outputBytes   bstr            the output tensor bytes of §4.2 (≤ 16 MiB)
 *
 * Challenge list — what the service answers to GET /v1/challenges/<providerKeyHex>:
 *
 *   [* [receiptId bstr .size 32, deadlineMs uint, sequence uint]]
 *
 * `sequence` is the challenged receipt's own sequence field (§4.1), so that the provider can
 * find its retained tensors without an index by receipt id.
 *
 * Tensors travel as raw bytes; their digests are checked against the receipt by the service.
 */
export const MAX_TENSOR_BYTES = 16 * 1024 * 1024;
/** Most challenges one list may carry. */
export const MAX_CHALLENGES = 10_000;
const ID_LENGTH = 32;
const REVEAL_FIELD_COUNT = 3;
const CHALLENGE_FIELD_COUNT = 3;
// Array head + three byte-string heads (≤ 9 bytes each) around the payloads.
const REVEAL_OVERHEAD = 1 + 3 * 9;

export interface Reveal {
  readonly receiptId: Uint8Array;
  readonly input: Uint8Array;
  readonly output: Uint8Array;
}

export interface Challenge {
  readonly receiptId: Uint8Array;
  /** Unix epoch milliseconds by which the reveal must arrive. */
  readonly deadlineMs: number;
  /** The challenged receipt's sequence field (a hint for the lookup; the id decides). */
  readonly sequence: number;
}

/**
 * Codes: `REVEAL_MALFORMED` — reveal bytes that are not the shape above (or too large);
 * `REVEAL_INVALID` — a reveal that cannot be encoded (bad id length, tensor too large);
 * `CHALLENGES_MALFORMED` — challenge-list bytes that are not the shape above;
 * `CHALLENGES_INVALID` — a challenge list that cannot be encoded.
 */
export type RevealErrorCode =
  | 'REVEAL_MALFORMED'
  | 'REVEAL_INVALID'
  | 'CHALLENGES_MALFORMED'
  | 'CHALLENGES_INVALID';

export class RevealError extends FieldmeshError {
  constructor(code: RevealErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

function idProblem(id: unknown): string | null {
  if (!(id instanceof Uint8Array)) return 'receiptId must be a byte string';
  return id.length === ID_LENGTH ? null : `receiptId must be ${ID_LENGTH} bytes, got ${id.length}`;
}

function tensorProblem(name: string, value: unknown): string | null {
  if (!(value instanceof Uint8Array)) return `${name} must be a byte string`;
  return value.length <= MAX_TENSOR_BYTES
    ? null
    : `${name} is ${value.length} bytes, more than the limit of ${MAX_TENSOR_BYTES} (16 MiB)`;
}

function revealProblems(values: readonly unknown[]): string[] {
  return [idProblem(values[0]), tensorProblem('input', values[1]), tensorProblem('output', values[2])].filter(
    (p): p is string => p !== null,
  );
}

export function encodeReveal({ receiptId, input, output }: Reveal): Uint8Array {
  const problems = revealProblems([receiptId, input, output]);
  if (problems.length > 0) {
    throw new RevealError('REVEAL_INVALID', `cannot encode reveal: ${problems.join('; ')}`);
  }
  return encodeCbor([receiptId, input, output]);
}

/** Decodes a reveal; throws RevealError('REVEAL_MALFORMED') saying what is wrong. */
export function decodeReveal(bytes: Uint8Array): Reveal {
  const malformed = (why: string, cause?: unknown) =>
    new RevealError(
      'REVEAL_MALFORMED',
      `reveal rejected: ${why}`,
      cause === undefined ? undefined : { cause },
    );
  // Checked before decoding so an oversized body is never copied.
  if (bytes.length > 2 * MAX_TENSOR_BYTES + ID_LENGTH + REVEAL_OVERHEAD) {
    throw malformed(`${bytes.length} bytes is larger than any valid reveal (two tensors of at most 16 MiB)`);
  }
  let decoded: CborValue;
  try {
    decoded = decodeCbor(bytes, { maxDepth: 1 });
  } catch (err) {
    throw malformed(`not canonical CBOR: ${(err as Error).message}`, err);
  }
  if (!Array.isArray(decoded) || decoded.length !== REVEAL_FIELD_COUNT) {
    throw malformed(`must be an array of ${REVEAL_FIELD_COUNT} byte strings [receiptId, input, output]`);
  }
  const values = decoded as readonly CborValue[];
  const problems = revealProblems(values);
  if (problems.length > 0) throw malformed(problems.join('; '));
  const [receiptId, input, output] = values as [Uint8Array, Uint8Array, Uint8Array];
  return { receiptId, input, output };
}

const isUint = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function challengeProblem(c: unknown, i: number): string | null {
  if (!Array.isArray(c) || c.length !== CHALLENGE_FIELD_COUNT) {
    return `challenge ${i} must be [receiptId, deadlineMs, sequence]`;
  }
  const id = idProblem(c[0]);
  if (id !== null) return `challenge ${i}: ${id}`;
  if (!isUint(c[1])) return `challenge ${i}: deadlineMs must be an integer in [0, 2^53 - 1]`;
  return isUint(c[2]) ? null : `challenge ${i}: sequence must be an integer in [0, 2^53 - 1]`;
}

export function encodeChallenges(list: readonly Challenge[]): Uint8Array {
  const values = list.map((c) => [c.receiptId, c.deadlineMs, c.sequence] as const);
  const problems = values.map(challengeProblem).filter((p): p is string => p !== null);
  if (list.length > MAX_CHALLENGES) problems.push(`${list.length} challenges, more than ${MAX_CHALLENGES}`);
  if (problems.length > 0) {
    throw new RevealError('CHALLENGES_INVALID', `cannot encode challenges: ${problems.join('; ')}`);
  }
  return encodeCbor(values as unknown as CborValue[]);
}

/** Decodes a challenge list; throws RevealError('CHALLENGES_MALFORMED') saying what is wrong. */
export function decodeChallenges(bytes: Uint8Array): Challenge[] {
  const malformed = (why: string, cause?: unknown) =>
    new RevealError(
      'CHALLENGES_MALFORMED',
      `challenge list rejected: ${why}`,
      cause === undefined ? undefined : { cause },
    );
  let decoded: CborValue;
  try {
    decoded = decodeCbor(bytes, { maxDepth: 2 });
  } catch (err) {
    throw malformed(`not canonical CBOR: ${(err as Error).message}`, err);
  }
  if (!Array.isArray(decoded)) throw malformed('must be an array of [receiptId, deadlineMs, sequence]');
  const list = decoded as readonly CborValue[];
  if (list.length > MAX_CHALLENGES) throw malformed(`${list.length} challenges, more than ${MAX_CHALLENGES}`);
  const problem = list.map(challengeProblem).find((p) => p !== null);
  if (problem !== undefined && problem !== null) throw malformed(problem);
  return list.map((c) => {
    const [receiptId, deadlineMs, sequence] = c as [Uint8Array, number, number];
    return { receiptId, deadlineMs, sequence };
  });
}

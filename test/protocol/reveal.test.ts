import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../protocol/cbor.js';
import { hasCode } from '../../protocol/errors.js';
import {
  decodeChallenges,
  decodeReveal,
  encodeChallenges,
  encodeReveal,
  MAX_TENSOR_BYTES,
  RevealError,
} from '../../protocol/reveal.js';

const id = new Uint8Array(32).fill(9);

function decodeError(decode: () => unknown): RevealError {
  try {
    decode();
  } catch (err) {
    expect(err).toBeInstanceOf(RevealError);
    return err as RevealError;
  }
  return expect.fail('expected a RevealError');
}

describe('reveal codec', () => {
  it('round-trips any id and tensors', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 300 }),
        (receiptId, input, output) => {
          const bytes = encodeReveal({ receiptId, input, output });
          expect(decodeReveal(bytes)).toEqual({ receiptId, input, output });
          expect(encodeReveal(decodeReveal(bytes))).toEqual(bytes);
        },
      ),
    );
  });

  it('is the CBOR array [receiptId, input, output]', () => {
    const bytes = encodeReveal({ receiptId: id, input: Uint8Array.of(1), output: Uint8Array.of(2, 3) });
    expect(bytes).toEqual(encodeCbor([id, Uint8Array.of(1), Uint8Array.of(2, 3)]));
  });

  it.each([
    [
      'a short receipt id',
      encodeCbor([new Uint8Array(31), new Uint8Array(), new Uint8Array()]),
      /32 bytes, got 31/,
    ],
    ['two fields', encodeCbor([id, new Uint8Array()]), /array of 3/],
    ['a text input', encodeCbor([id, 'x', new Uint8Array()]), /input must be a byte string/],
    ['a nested array', encodeCbor([id, [1], new Uint8Array()]), /not canonical CBOR/],
    ['trailing bytes', Uint8Array.of(...encodeCbor([id, new Uint8Array(), new Uint8Array()]), 0), /trailing/],
    ['not an array', encodeCbor(5), /array of 3/],
  ])('refuses %s with REVEAL_MALFORMED, saying what is wrong', (_what, bytes, message) => {
    const err = decodeError(() => decodeReveal(bytes));
    expect(hasCode(err, 'REVEAL_MALFORMED')).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('caps each tensor at 16 MiB', () => {
    const big = new Uint8Array(MAX_TENSOR_BYTES + 1);
    const bytes = encodeCbor([id, new Uint8Array(), big]);
    expect(decodeError(() => decodeReveal(bytes)).message).toMatch(
      /output is 16777217 bytes, more than the limit/,
    );
    expect(
      decodeReveal(encodeCbor([id, new Uint8Array(MAX_TENSOR_BYTES), new Uint8Array()])).input.length,
    ).toBe(MAX_TENSOR_BYTES);
    expect(() => encodeReveal({ receiptId: id, input: big, output: new Uint8Array() })).toThrow(/input is/);
  });

  it('refuses a body larger than any reveal before decoding it', () => {
    const err = decodeError(() => decodeReveal(new Uint8Array(2 * MAX_TENSOR_BYTES + 100)));
    expect(err.message).toMatch(/larger than any valid reveal/);
  });
});

describe('challenge list codec', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            receiptId: fc.uint8Array({ minLength: 32, maxLength: 32 }),
            deadlineMs: fc.maxSafeNat(),
            sequence: fc.maxSafeNat(),
          }),
          { maxLength: 20 },
        ),
        (list) => {
          expect(decodeChallenges(encodeChallenges(list))).toEqual(list);
        },
      ),
    );
  });

  it('is a CBOR array of [receiptId, deadlineMs, sequence]', () => {
    expect(encodeChallenges([{ receiptId: id, deadlineMs: 1000, sequence: 7 }])).toEqual(
      encodeCbor([[id, 1000, 7]]),
    );
    expect(decodeChallenges(encodeCbor([]))).toEqual([]);
  });

  it.each([
    ['a deadline beyond 2^53', encodeCbor([[id, 2n ** 60n, 0]]), /challenge 0: deadlineMs/],
    ['a negative deadline', encodeCbor([[id, -1, 0]]), /challenge 0: deadlineMs/],
    ['a negative sequence', encodeCbor([[id, 1, -1]]), /challenge 0: sequence/],
    [
      'a challenge without its sequence',
      encodeCbor([[id, 1]]),
      /challenge 0 must be \[receiptId, deadlineMs, sequence\]/,
    ],
    [
      'a short id',
      encodeCbor([
        [id, 1, 0],
        [new Uint8Array(3), 1, 0],
      ]),
      /challenge 1: receiptId must be 32 bytes/,
    ],
    ['a flat list', encodeCbor([id, 1, 0]), /challenge 0 must be \[receiptId, deadlineMs, sequence\]/],
    ['a map byte', Uint8Array.of(0xa0), /not canonical CBOR/],
  ])('refuses %s with CHALLENGES_MALFORMED', (_what, bytes, message) => {
    const err = decodeError(() => decodeChallenges(bytes));
    expect(hasCode(err, 'CHALLENGES_MALFORMED')).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('refuses to encode a bad challenge', () => {
    expect(() => encodeChallenges([{ receiptId: id, deadlineMs: 1.5, sequence: 0 }])).toThrow(/deadlineMs/);
    expect(() => encodeChallenges([{ receiptId: id, deadlineMs: 1, sequence: 0.5 }])).toThrow(/sequence/);
  });
});

import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../protocol/cbor.js';
import { hasCode } from '../../protocol/errors.js';
import { decodeSubmission, encodeSubmission, type Submission } from '../../protocol/submission.js';

const sub: Submission = {
  headerBytes: Uint8Array.of(1, 2, 3),
  signature: new Uint8Array(64).fill(7),
  receiptBodies: [Uint8Array.of(9), Uint8Array.of(8, 8)],
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return hasCode(err, 'SUBMISSION_MALFORMED') || hasCode(err, 'SUBMISSION_TOO_LARGE') ? err.code : 'other';
  }
  return undefined;
}

describe('submission envelope', () => {
  it('round-trips the exact bytes it carries', () => {
    const bytes = encodeSubmission(sub);
    expect(bytes).toEqual(encodeCbor([sub.headerBytes, sub.signature, [...sub.receiptBodies]]));
    expect(decodeSubmission(bytes)).toEqual(sub);
  });

  it('rejects truncated input, trailing bytes and garbage as SUBMISSION_MALFORMED', () => {
    const bytes = encodeSubmission(sub);
    for (const bad of [
      bytes.subarray(0, bytes.length - 1),
      Uint8Array.of(...bytes, 0),
      Uint8Array.of(0xff),
    ]) {
      expect(codeOf(() => decodeSubmission(bad))).toBe('SUBMISSION_MALFORMED');
    }
  });

  it('rejects every wrong shape as SUBMISSION_MALFORMED', () => {
    const h = sub.headerBytes;
    const s = sub.signature;
    const shapes = [
      encodeCbor(5),
      encodeCbor([h, s]),
      encodeCbor([h, s, [Uint8Array.of(1)], 0]),
      encodeCbor(['h', s, [Uint8Array.of(1)]]),
      encodeCbor([h, 64, [Uint8Array.of(1)]]),
      encodeCbor([h, s, Uint8Array.of(1)]),
      encodeCbor([h, s, [Uint8Array.of(1), 2]]),
      encodeCbor([h, s, []]),
      encodeCbor([h, s, [[Uint8Array.of(1)]]]),
    ];
    for (const bytes of shapes) expect(codeOf(() => decodeSubmission(bytes))).toBe('SUBMISSION_MALFORMED');
  });

  it('enforces the receipt limit on both sides, default 10,000', () => {
    const many = { ...sub, receiptBodies: Array.from({ length: 3 }, () => Uint8Array.of(1)) };
    expect(codeOf(() => encodeSubmission(many, { maxReceipts: 2 }))).toBe('SUBMISSION_TOO_LARGE');
    const bytes = encodeSubmission(many);
    expect(codeOf(() => decodeSubmission(bytes, { maxReceipts: 2 }))).toBe('SUBMISSION_TOO_LARGE');
    const tooMany = { ...sub, receiptBodies: Array.from({ length: 10_001 }, () => Uint8Array.of(1)) };
    expect(codeOf(() => encodeSubmission(tooMany))).toBe('SUBMISSION_TOO_LARGE');
    expect(codeOf(() => decodeSubmission(encodeSubmission(tooMany, { maxReceipts: 20_000 })))).toBe(
      'SUBMISSION_TOO_LARGE',
    );
  });

  it('refuses to encode an empty receipt list', () => {
    expect(codeOf(() => encodeSubmission({ ...sub, receiptBodies: [] }))).toBe('SUBMISSION_MALFORMED');
  });
});

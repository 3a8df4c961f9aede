import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { writeReceipt } from '../../../agent/receipts/receipt-writer.js';
import { encodeReceipt, type Receipt } from '../../../protocol/receipt.js';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const uint = fc.oneof(
  fc.integer({ min: 0, max: 30 }),
  fc.integer({ min: 0, max: 70_000 }),
  fc.integer({ min: 0, max: 2 ** 33 }),
  fc.constantFrom(23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
);
const receipt: fc.Arbitrary<Receipt> = fc.record({
  version: fc.constant(1 as const),
  providerKey: bytes32,
  consumerKey: bytes32,
  pipelineId: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((s) => {
    const n = Buffer.byteLength(s, 'utf8');
    return n >= 1 && n <= 128;
  }),
  sequence: uint,
  modelSha256: bytes32,
  inputDigest: bytes32,
  outputDigest: bytes32,
  startTimeMs: uint,
  computeTimeUs: uint,
  sampleCount: uint.filter((n) => n >= 1),
});

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('writeReceipt (the outbox fast path)', () => {
  it('writes exactly the bytes of encodeReceipt', () => {
    fc.assert(
      fc.property(receipt, (r) => {
        expect(hex(writeReceipt(r))).toBe(hex(encodeReceipt(r)));
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses what encodeReceipt refuses, with the same error', () => {
    const good = fc.sample(receipt, 1)[0]!;
    for (const bad of [
      { ...good, sampleCount: 0 },
      { ...good, sequence: -1 },
      { ...good, startTimeMs: 1.5 },
      { ...good, pipelineId: '' },
      { ...good, pipelineId: 'x'.repeat(129) },
      { ...good, pipelineId: '\ud800' },
      { ...good, inputDigest: new Uint8Array(31) },
    ]) {
      const codeOf = (encode: (r: Receipt) => Uint8Array): string | undefined => {
        try {
          encode(bad);
        } catch (e) {
          return (e as { code?: string }).code;
        }
        return undefined;
      };
      expect(codeOf(writeReceipt)).toBeDefined();
      expect(codeOf(writeReceipt)).toBe(codeOf(encodeReceipt));
    }
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BatchPolicy,
  batchPolicyProblems,
  encodedReceiptBytes,
  type PendingReceipt,
  receiptsToCut,
  SUBMISSION_ENVELOPE_BYTES,
} from '../../../agent/receipts/batch-policy.js';

const policy: BatchPolicy = { maxReceipts: 3, maxAgeMs: 1_000, maxBytes: 10_000 };
const at = (appendedAtMs: number, bodyBytes = 100): PendingReceipt => ({ appendedAtMs, bodyBytes });

describe('receiptsToCut', () => {
  it('waits while nothing is pending', () => {
    expect(receiptsToCut([], policy, 10_000)).toBe(0);
  });

  it('waits while the batch is neither full nor old', () => {
    expect(receiptsToCut([at(0), at(10)], policy, 999)).toBe(0);
  });

  it('cuts a full batch by count at once, leaving the rest', () => {
    expect(receiptsToCut([at(0), at(1), at(2)], policy, 5)).toBe(3);
    expect(receiptsToCut([at(0), at(1), at(2), at(3), at(4)], policy, 5)).toBe(3);
  });

  it('cuts whatever is pending once the oldest receipt reaches maxAgeMs', () => {
    expect(receiptsToCut([at(0), at(900)], policy, 1_000)).toBe(2);
  });

  it('cuts by bytes when the next receipt would not fit', () => {
    const small = { ...policy, maxReceipts: 100, maxBytes: SUBMISSION_ENVELOPE_BYTES + 2 * 103 };
    expect(receiptsToCut([at(0), at(0), at(0)], small, 0)).toBe(2);
  });

  it('cuts a single receipt larger than maxBytes by itself rather than blocking', () => {
    const tiny = { ...policy, maxBytes: SUBMISSION_ENVELOPE_BYTES + 10 };
    expect(receiptsToCut([at(0, 500), at(0)], tiny, 0)).toBe(1);
  });

  it('never exceeds maxReceipts or maxBytes (beyond a lone oversized receipt)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ bodyBytes: fc.nat(70_000), appendedAtMs: fc.nat(10_000) }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: SUBMISSION_ENVELOPE_BYTES + 1, max: 200_000 }),
        fc.nat(20_000),
        (pending, maxReceipts, maxBytes, now) => {
          const p = { maxReceipts, maxBytes, maxAgeMs: 5_000 };
          const n = receiptsToCut(pending, p, now);
          expect(n).toBeLessThanOrEqual(Math.min(maxReceipts, pending.length));
          const bytes = pending
            .slice(0, n)
            .reduce((sum, r) => sum + encodedReceiptBytes(r.bodyBytes), SUBMISSION_ENVELOPE_BYTES);
          if (n > 1) expect(bytes).toBeLessThanOrEqual(maxBytes);
          if (pending.length >= maxReceipts && n === 0) {
            expect.fail('a full batch must be cut');
          }
        },
      ),
    );
  });
});

describe('encodedReceiptBytes', () => {
  it('adds the CBOR byte-string head', () => {
    expect(encodedReceiptBytes(23)).toBe(24);
    expect(encodedReceiptBytes(24)).toBe(26);
    expect(encodedReceiptBytes(255)).toBe(257);
    expect(encodedReceiptBytes(256)).toBe(259);
    expect(encodedReceiptBytes(65_536)).toBe(65_541);
  });
});

describe('batchPolicyProblems', () => {
  it('accepts a usable policy', () => {
    expect(batchPolicyProblems(policy)).toEqual([]);
  });

  it('names every bad field', () => {
    const problems = batchPolicyProblems({ maxReceipts: 0, maxAgeMs: -1, maxBytes: 10 });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/maxReceipts[\s\S]*maxAgeMs[\s\S]*maxBytes/);
  });

  it('refuses more receipts than a submission may carry', () => {
    expect(batchPolicyProblems({ ...policy, maxReceipts: 10_001 })).toHaveLength(1);
  });
});

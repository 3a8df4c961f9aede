import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeCbor } from '../../protocol/cbor.js';
import {
  decodeReceipt,
  encodeReceipt,
  type Receipt,
  ReceiptInvalidError,
  receiptId,
} from '../../protocol/receipt.js';

const filled = (b: number): Uint8Array => new Uint8Array(32).fill(b);

const receipt: Receipt = {
  version: 1,
  providerKey: filled(1),
  consumerKey: filled(2),
  pipelineId: 'vibration-anomaly',
  sequence: 42,
  modelSha256: filled(3),
  inputDigest: filled(4),
  outputDigest: filled(5),
  startTimeMs: 1_763_690_000_000,
  computeTimeUs: 1_250,
  sampleCount: 256,
};

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ReceiptInvalidError);
    expect((err as ReceiptInvalidError).code).toBe('RECEIPT_INVALID');
    return (err as ReceiptInvalidError).problems;
  }
  throw new Error('expected a ReceiptInvalidError');
}

describe('receipt body', () => {
  it('is a canonical CBOR array of the fields in their documented order', () => {
    const body = encodeReceipt(receipt);
    expect(decodeCbor(body)).toEqual([
      1,
      filled(1),
      filled(2),
      'vibration-anomaly',
      42,
      filled(3),
      filled(4),
      filled(5),
      1_763_690_000_000,
      1_250,
      256,
    ]);
    expect(body[0]).toBe(0x8b); // array of 11
  });

  it('round-trips', () => {
    const body = encodeReceipt(receipt);
    expect(decodeReceipt(body)).toEqual(receipt);
    expect(encodeReceipt(decodeReceipt(body))).toEqual(body);
  });

  it('has an id that is sha256 of the exact body bytes', () => {
    const body = encodeReceipt(receipt);
    expect(receiptId(body)).toEqual(new Uint8Array(createHash('sha256').update(body).digest()));
    expect(receiptId(encodeReceipt({ ...receipt, sequence: 43 }))).not.toEqual(receiptId(body));
  });

  it('names every bad field on encode', () => {
    const bad = {
      ...receipt,
      providerKey: filled(1).subarray(0, 31),
      pipelineId: '',
      sequence: -1,
      sampleCount: 0,
      computeTimeUs: 1.5,
    };
    const found = problems(() => encodeReceipt(bad));
    expect(found).toHaveLength(5);
    expect(found.join('\n')).toMatch(/providerKey \(field 1\) must be 32 bytes/);
    expect(found.join('\n')).toMatch(/pipelineId \(field 3\)/);
    expect(found.join('\n')).toMatch(/sequence \(field 4\)/);
    expect(found.join('\n')).toMatch(/computeTimeUs \(field 9\)/);
    expect(found.join('\n')).toMatch(/sampleCount \(field 10\)/);
    expect(problems(() => encodeReceipt({ ...receipt, pipelineId: 'x'.repeat(129) }))).toHaveLength(1);
    expect(problems(() => encodeReceipt({ ...receipt, version: 2 as 1 }))[0]).toMatch(/version/);
  });

  it('refuses bodies of the wrong shape or encoding on decode', () => {
    const fields = decodeCbor(encodeReceipt(receipt)) as unknown[];
    expect(problems(() => decodeReceipt(encodeCbor(fields.slice(0, 10) as never)))[0]).toMatch(/11 fields/);
    expect(problems(() => decodeReceipt(encodeCbor(42)))[0]).toMatch(/11 fields/);
    const asBigint = [...fields];
    asBigint[4] = 2n ** 60n;
    expect(problems(() => decodeReceipt(encodeCbor(asBigint as never)))[0]).toMatch(/sequence/);
    const nested = [...fields];
    nested[3] = ['vibration-anomaly'];
    expect(problems(() => decodeReceipt(encodeCbor(nested as never)))[0]).toMatch(/canonical CBOR/);
    const body = encodeReceipt(receipt);
    expect(problems(() => decodeReceipt(Uint8Array.of(...body, 0)))[0]).toMatch(/trailing/);
    expect(problems(() => decodeReceipt(body.subarray(0, body.length - 1)))[0]).toMatch(/truncated/);
  });
});

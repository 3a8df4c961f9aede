import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BATCH_DOMAIN_TAG,
  BatchError,
  type BatchHeader,
  checkBatchLeaves,
  decodeBatchHeader,
  encodeBatchHeader,
  signBatch,
  verifyBatchHeader,
} from '../../protocol/batch.js';
import { decodeCbor, encodeCbor } from '../../protocol/cbor.js';
import { identityFromSeed } from '../../protocol/identity.js';
import { merkleRoot } from '../../protocol/merkle.js';
import { sign, verifyNode } from '../../protocol/signatures.js';

const provider = identityFromSeed(new Uint8Array(32).fill(9));
const other = identityFromSeed(new Uint8Array(32).fill(10));
const ids = Array.from(
  { length: 5 },
  (_, i) => new Uint8Array(createHash('sha256').update(`receipt ${i}`).digest()),
);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BatchError);
    return (err as BatchError).code;
  }
  throw new Error('expected a BatchError');
}

describe('batch header', () => {
  const signed = signBatch(ids, {
    secretKey: provider.secretKey,
    batchSequence: 7,
    createdAtMs: 1_763_690_000_000,
  });

  it('commits to the provider key, sequence, count, Merkle root and time', () => {
    expect(signed.header).toEqual({
      providerKey: provider.publicKey,
      batchSequence: 7,
      leafCount: 5,
      merkleRoot: merkleRoot(ids),
      createdAtMs: 1_763_690_000_000,
    });
    expect(decodeCbor(signed.headerBytes)).toEqual([
      provider.publicKey,
      7,
      5,
      merkleRoot(ids),
      1_763_690_000_000,
    ]);
    expect(decodeBatchHeader(signed.headerBytes)).toEqual(signed.header);
    expect(encodeBatchHeader(signed.header)).toEqual(signed.headerBytes);
  });

  it('is signed under the fieldmesh/batch/v1 domain tag, checkable by node:crypto too', () => {
    expect(BATCH_DOMAIN_TAG).toBe('fieldmesh/batch/v1');
    expect(verifyNode(BATCH_DOMAIN_TAG, signed.headerBytes, signed.signature, provider.publicKey)).toBe(true);
    expect(verifyBatchHeader(signed)).toEqual(signed.header);
    expect(() => checkBatchLeaves(signed.header, ids)).not.toThrow();
  });

  it('rejects a tampered header, a foreign signature or a signature under another tag', () => {
    const tampered = signed.headerBytes.slice();
    tampered[tampered.length - 1]! ^= 1;
    expect(code(() => verifyBatchHeader({ ...signed, headerBytes: tampered }))).toBe(
      'BATCH_SIGNATURE_INVALID',
    );
    const foreign = sign(BATCH_DOMAIN_TAG, signed.headerBytes, other.secretKey);
    expect(code(() => verifyBatchHeader({ ...signed, signature: foreign }))).toBe('BATCH_SIGNATURE_INVALID');
    const wrongTag = sign('fieldmesh/voucher/v1', signed.headerBytes, provider.secretKey);
    expect(code(() => verifyBatchHeader({ ...signed, signature: wrongTag }))).toBe('BATCH_SIGNATURE_INVALID');
  });

  it('rejects receipt ids that are not the signed leaves', () => {
    expect(code(() => checkBatchLeaves(signed.header, ids.slice(0, 4)))).toBe('BATCH_LEAVES_MISMATCH');
    expect(code(() => checkBatchLeaves(signed.header, [...ids].reverse()))).toBe('BATCH_LEAVES_MISMATCH');
    const swapped = [...ids.slice(0, 4), new Uint8Array(32)];
    expect(code(() => checkBatchLeaves(signed.header, swapped))).toBe('BATCH_LEAVES_MISMATCH');
  });

  it('rejects malformed headers', () => {
    const fields = decodeCbor(signed.headerBytes) as unknown[];
    expect(code(() => decodeBatchHeader(encodeCbor(fields.slice(0, 4) as never)))).toBe('BATCH_INVALID');
    expect(code(() => decodeBatchHeader(Uint8Array.of(0xa0)))).toBe('BATCH_INVALID');
    const zero = [...fields];
    zero[2] = 0;
    expect(code(() => decodeBatchHeader(encodeCbor(zero as never)))).toBe('BATCH_INVALID');
    const bad: BatchHeader = { ...signed.header, merkleRoot: new Uint8Array(31) };
    expect(code(() => encodeBatchHeader(bad))).toBe('BATCH_INVALID');
    expect(
      code(() => signBatch([], { secretKey: provider.secretKey, batchSequence: 0, createdAtMs: 0 })),
    ).toBe('BATCH_INVALID');
    expect(
      code(() => signBatch(ids, { secretKey: provider.publicKey, batchSequence: 0, createdAtMs: 0 })),
    ).toBe('BATCH_INVALID');
  });
});

import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CborError, type CborValue, decodeCbor, encodeCbor } from '../../protocol/cbor.js';
import { inclusionProof, merkleRoot, verifyInclusion } from '../../protocol/merkle.js';
import { decodeReceipt, encodeReceipt, type Receipt, receiptId } from '../../protocol/receipt.js';

const RUNS = { numRuns: 200 } as const;
const TWO_64 = 2n ** 64n;

// The decoder hands back safe integers as numbers and everything else as bigints, so the
// value it returns is the input with every in-range bigint turned into a number.
function normalise(value: CborValue): CborValue {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }
  if (Array.isArray(value)) return (value as readonly CborValue[]).map(normalise);
  return value;
}

const integer: fc.Arbitrary<CborValue> = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -TWO_64, max: TWO_64 - 1n }),
  // The head-size boundaries are where shortest-form bugs live.
  fc.constantFrom(23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, -24, -25, -257, -(2 ** 32) - 1),
  fc.constantFrom(TWO_64 - 1n, -TWO_64, 2n ** 53n, -(2n ** 53n) - 1n),
);

const leaf: fc.Arbitrary<CborValue> = fc.oneof(
  integer,
  fc.uint8Array({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

// Depth stays well under the default limit of 16 nested arrays.
const { value: cborValue } = fc.letrec<{ value: CborValue }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 6 }, leaf, fc.array(tie('value'), { maxLength: 5 })),
}));

function decodeOrCborError(bytes: Uint8Array): CborValue | CborError {
  try {
    return decodeCbor(bytes);
  } catch (err) {
    if (err instanceof CborError) return err;
    throw err;
  }
}

describe('canonical CBOR properties', () => {
  it('decode(encode(x)) gives x back and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(cborValue, (value) => {
        const bytes = encodeCbor(value);
        const decoded = decodeCbor(bytes);
        expect(decoded).toEqual(normalise(value));
        expect(encodeCbor(decoded)).toEqual(bytes);
      }),
      RUNS,
    );
  });

  it('arbitrary bytes either fail with CborError or are the unique encoding of what they decode to', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const result = decodeOrCborError(bytes);
        if (!(result instanceof CborError)) expect(encodeCbor(result)).toEqual(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('single-byte corruptions of valid encodings never break the decoder contract', () => {
    // Random bytes are rarely well-formed; mutating real encodings reaches the deep paths.
    fc.assert(
      fc.property(cborValue, fc.nat(), fc.integer({ min: 1, max: 255 }), (value, at, mask) => {
        const bytes = encodeCbor(value);
        const mutated = bytes.slice();
        const i = at % mutated.length;
        mutated[i] = mutated[i]! ^ mask;
        const result = decodeOrCborError(mutated);
        if (!(result instanceof CborError)) expect(encodeCbor(result)).toEqual(mutated);
      }),
      RUNS,
    );
  });

  it('a truncated encoding never decodes', () => {
    fc.assert(
      fc.property(cborValue, fc.nat(), (value, cut) => {
        const bytes = encodeCbor(value);
        const short = bytes.subarray(0, cut % bytes.length);
        expect(() => decodeCbor(short)).toThrow(CborError);
      }),
      RUNS,
    );
  });
});

describe('Merkle inclusion properties', () => {
  const leaves = fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 33 });

  it('every leaf has a proof that verifies, and any flipped byte fails', () => {
    fc.assert(
      fc.property(leaves, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (data, pick, at, mask) => {
        const root = merkleRoot(data);
        for (let index = 0; index < data.length; index++) {
          const leafData = data[index]!;
          const proof = inclusionProof(data, index);
          expect(verifyInclusion(leafData, index, data.length, proof, root)).toBe(true);

          const badLeaf = leafData.slice();
          const li = at % badLeaf.length;
          badLeaf[li] = badLeaf[li]! ^ mask;
          expect(verifyInclusion(badLeaf, index, data.length, proof, root)).toBe(false);

          if (proof.length > 0) {
            const element = pick % proof.length;
            const badProof = proof.map((p) => p.slice());
            const bi = at % 32;
            badProof[element]![bi] = badProof[element]![bi]! ^ mask;
            expect(verifyInclusion(leafData, index, data.length, badProof, root)).toBe(false);
          }
        }
      }),
      RUNS,
    );
  });

  it('every byte of every proof element matters', () => {
    // Exhaustive over one modest tree per run, so fewer runs.
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 8 }), { minLength: 2, maxLength: 9 }), (data) => {
        const root = merkleRoot(data);
        for (let index = 0; index < data.length; index++) {
          const proof = inclusionProof(data, index);
          for (let e = 0; e < proof.length; e++) {
            for (let b = 0; b < 32; b++) {
              const bad = proof.map((p) => p.slice());
              bad[e]![b] = bad[e]![b]! ^ 0x01;
              expect(verifyInclusion(data[index]!, index, data.length, bad, root)).toBe(false);
            }
          }
        }
      }),
      { numRuns: 20 },
    );
  });
});

describe('receipt properties', () => {
  const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const uint = (min: number) =>
    fc.oneof(
      fc.integer({ min, max: 1_000_000 }),
      fc.maxSafeNat().map((n) => Math.max(n, min)),
    );
  const receipt: fc.Arbitrary<Receipt> = fc.record({
    version: fc.constant(1 as const),
    providerKey: bytes32,
    consumerKey: bytes32,
    // ≤ 32 code points of ≤ 4 UTF-8 bytes each stays within the 128-byte limit.
    pipelineId: fc.string({ unit: 'binary', minLength: 1, maxLength: 32 }),
    sequence: uint(0),
    modelSha256: bytes32,
    inputDigest: bytes32,
    outputDigest: bytes32,
    startTimeMs: uint(0),
    computeTimeUs: uint(0),
    sampleCount: uint(1),
  });

  it('valid receipts round-trip and keep a stable id', () => {
    fc.assert(
      fc.property(receipt, (r) => {
        const body = encodeReceipt(r);
        const decoded = decodeReceipt(body);
        expect(decoded).toEqual(r);
        const again = encodeReceipt(decoded);
        expect(again).toEqual(body);
        expect(receiptId(again)).toEqual(receiptId(body));
        expect(receiptId(body)).toEqual(new Uint8Array(createHash('sha256').update(body).digest()));
      }),
      RUNS,
    );
  });
});

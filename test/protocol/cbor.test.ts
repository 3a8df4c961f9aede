import { describe, expect, it } from 'vitest';
import { CborError, type CborValue, decodeCbor, encodeCbor } from '../../protocol/cbor.js';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function rejects(h: string, code: string, offset: number, pattern?: RegExp): void {
  let caught: unknown;
  try {
    decodeCbor(hex(h));
  } catch (err) {
    caught = err;
  }
  expect(caught, `decoding ${h} should fail`).toBeInstanceOf(CborError);
  const err = caught as CborError;
  expect(err.code).toBe(code);
  expect(err.offset).toBe(offset);
  expect(err.message).toContain(`byte ${offset}`);
  if (pattern) expect(err.message).toMatch(pattern);
}

// RFC 8949 Appendix A, every example whose type is in the subset.
const RFC_8949_VECTORS: [CborValue, string][] = [
  [0, '00'],
  [1, '01'],
  [10, '0a'],
  [23, '17'],
  [24, '1818'],
  [25, '1819'],
  [100, '1864'],
  [1000, '1903e8'],
  [1000000, '1a000f4240'],
  [1000000000000, '1b000000e8d4a51000'],
  [18446744073709551615n, '1bffffffffffffffff'],
  [-18446744073709551616n, '3bffffffffffffffff'],
  [-1, '20'],
  [-10, '29'],
  [-100, '3863'],
  [-1000, '3903e7'],
  [new Uint8Array(0), '40'],
  [Uint8Array.of(1, 2, 3, 4), '4401020304'],
  ['', '60'],
  ['a', '6161'],
  ['IETF', '6449455446'],
  ['"\\', '62225c'],
  ['\u00fc', '62c3bc'],
  ['\u6c34', '63e6b0b4'],
  ['\ud800\udd51', '64f0908591'],
  [[], '80'],
  [[1, 2, 3], '83010203'],
  [[1, [2, 3], [4, 5]], '8301820203820405'],
  [Array.from({ length: 25 }, (_, i) => i + 1), '98190102030405060708090a0b0c0d0e0f101112131415161718181819'],
];

describe('canonical CBOR: RFC 8949 Appendix A vectors', () => {
  for (const [value, encoded] of RFC_8949_VECTORS) {
    it(`${encoded}`, () => {
      expect(toHex(encodeCbor(value))).toBe(encoded);
      expect(decodeCbor(hex(encoded))).toEqual(value);
    });
  }
});

describe('canonical CBOR: integers', () => {
  it('uses the shortest head at every boundary', () => {
    const cases: [number | bigint, string][] = [
      [23, '17'],
      [24, '1818'],
      [255, '18ff'],
      [256, '190100'],
      [65535, '19ffff'],
      [65536, '1a00010000'],
      [4294967295, '1affffffff'],
      [4294967296, '1b0000000100000000'],
      [-24, '37'],
      [-25, '3818'],
      [-256, '38ff'],
      [-257, '390100'],
      [-4294967297, '3b0000000100000000'],
    ];
    for (const [value, encoded] of cases) {
      expect(toHex(encodeCbor(value))).toBe(encoded);
      expect(decodeCbor(hex(encoded))).toBe(value);
    }
  });

  it('decodes to number inside the safe range and to bigint beyond it', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(decodeCbor(encodeCbor(max))).toBe(max);
    expect(decodeCbor(encodeCbor(-max))).toBe(-max);
    expect(decodeCbor(encodeCbor(BigInt(max) + 1n))).toBe(BigInt(max) + 1n);
    expect(decodeCbor(encodeCbor(-BigInt(max) - 1n))).toBe(-BigInt(max) - 1n);
    // A small bigint encodes exactly like the number it equals.
    expect(encodeCbor(5n)).toEqual(encodeCbor(5));
  });

  it('refuses what it cannot encode canonically', () => {
    for (const value of [
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2 ** 53,
      -(2 ** 53),
      2n ** 64n,
      -(2n ** 64n) - 1n,
    ]) {
      expect(() => encodeCbor(value)).toThrow(CborError);
    }
    expect(() => encodeCbor('\ud800')).toThrow(/lone surrogate/);
    expect(() => encodeCbor({} as unknown as CborValue)).toThrow(/canonical subset/);
    expect(() => encodeCbor(true as unknown as CborValue)).toThrow(/canonical subset/);
  });
});

describe('canonical CBOR: round trips', () => {
  it('reproduces values and bytes', () => {
    const values: CborValue[] = [
      [1, -1, 2n ** 63n, -(2n ** 63n), 'fieldmesh/batch/v1', new Uint8Array(300).fill(7)],
      ['\ufeffbom kept', '😀', 'a'.repeat(70000)],
      [[[[[]]]], [new Uint8Array(24)], []],
    ];
    for (const value of values) {
      const bytes = encodeCbor(value);
      const decoded = decodeCbor(bytes);
      expect(decoded).toEqual(value);
      expect(encodeCbor(decoded)).toEqual(bytes);
    }
  });

  it('decodes from a subarray of a larger buffer', () => {
    const outer = hex('ff831903e8420102626162ff');
    expect(decodeCbor(outer.subarray(1, outer.length - 1))).toEqual([1000, Uint8Array.of(1, 2), 'ab']);
  });
});

describe('canonical CBOR: rejections', () => {
  it('non-shortest heads', () => {
    rejects('1800', 'CBOR_NONCANONICAL', 0, /shortest/);
    rejects('1817', 'CBOR_NONCANONICAL', 0);
    rejects('1900ff', 'CBOR_NONCANONICAL', 0);
    rejects('1a0000ffff', 'CBOR_NONCANONICAL', 0);
    rejects('1b00000000ffffffff', 'CBOR_NONCANONICAL', 0);
    rejects('3800', 'CBOR_NONCANONICAL', 0);
    rejects('5800', 'CBOR_NONCANONICAL', 0);
    rejects('7801', 'CBOR_NONCANONICAL', 0);
    rejects('820198000', 'CBOR_NONCANONICAL', 2);
  });

  it('maps, floats, simple values, tags', () => {
    rejects('a0', 'CBOR_NONCANONICAL', 0, /maps/);
    rejects('a201020304', 'CBOR_NONCANONICAL', 0, /maps/);
    rejects('f90000', 'CBOR_NONCANONICAL', 0, /floats/);
    rejects('fa47c35000', 'CBOR_NONCANONICAL', 0, /floats/);
    rejects('fb3ff199999999999a', 'CBOR_NONCANONICAL', 0, /floats/);
    rejects('f4', 'CBOR_NONCANONICAL', 0, /simple/);
    rejects('f6', 'CBOR_NONCANONICAL', 0, /simple/);
    rejects('c249010000000000000000', 'CBOR_NONCANONICAL', 0, /tags/);
    rejects('d8184100', 'CBOR_NONCANONICAL', 0, /tags/);
    rejects('8201c0', 'CBOR_NONCANONICAL', 2, /tags/);
  });

  it('indefinite lengths and reserved additional info', () => {
    rejects('5f42010243030405ff', 'CBOR_NONCANONICAL', 0, /indefinite/);
    rejects('7f657374726561646d696e67ff', 'CBOR_NONCANONICAL', 0, /indefinite/);
    rejects('9fff', 'CBOR_NONCANONICAL', 0, /indefinite/);
    rejects('1f', 'CBOR_MALFORMED', 0);
    rejects('3f', 'CBOR_MALFORMED', 0);
    rejects('1c', 'CBOR_MALFORMED', 0, /reserved/);
    rejects('5e', 'CBOR_MALFORMED', 0, /reserved/);
  });

  it('invalid UTF-8', () => {
    rejects('61ff', 'CBOR_MALFORMED', 0, /UTF-8/);
    rejects('62c328', 'CBOR_MALFORMED', 0, /UTF-8/);
    rejects('62c0af', 'CBOR_MALFORMED', 0, /UTF-8/); // overlong "/"
    rejects('63eda080', 'CBOR_MALFORMED', 0, /UTF-8/); // encoded surrogate U+D800
    rejects('8201' + '61c3', 'CBOR_MALFORMED', 2, /UTF-8/);
  });

  it('truncated input', () => {
    rejects('', 'CBOR_MALFORMED', 0, /truncated/);
    rejects('18', 'CBOR_MALFORMED', 0, /truncated/);
    rejects('1b000000', 'CBOR_MALFORMED', 0, /truncated/);
    rejects('4401', 'CBOR_MALFORMED', 0, /truncated/);
    rejects('6461', 'CBOR_MALFORMED', 0, /truncated/);
    rejects('830102', 'CBOR_MALFORMED', 0, /truncated/);
    rejects('8301024401', 'CBOR_MALFORMED', 3, /truncated/);
    rejects('5bffffffffffffffff', 'CBOR_MALFORMED', 0, /truncated/);
    rejects('9bffffffffffffffff', 'CBOR_MALFORMED', 0, /truncated/);
  });

  it('trailing bytes', () => {
    rejects('0000', 'CBOR_MALFORMED', 1, /trailing/);
    rejects('8001', 'CBOR_MALFORMED', 1, /trailing/);
  });

  it('nesting deeper than the limit', () => {
    const deep = (n: number): string => '81'.repeat(n) + '00';
    expect(() => decodeCbor(hex(deep(16)))).not.toThrow();
    rejects(deep(17), 'CBOR_MALFORMED', 16, /nested deeper/);
    expect(() => decodeCbor(hex(deep(3)), { maxDepth: 2 })).toThrow(/nested deeper than the limit of 2/);
    let value: CborValue = 0;
    for (let i = 0; i < 17; i++) value = [value];
    expect(() => encodeCbor(value)).toThrow(/nested deeper/);
  });
});

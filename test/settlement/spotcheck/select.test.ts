import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newSeed, selectionThreshold, spotCheckSelects } from '../../../settlement/spotcheck/select.js';

const ids = (n: number, salt = 0): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new Uint8Array(createHash('sha256').update(`${salt}/${i}`).digest()));

const seed = new Uint8Array(32).fill(42);
const many = ids(20_000);

describe('spotCheckSelects', () => {
  it('selects close to the fraction asked for over 20,000 receipts', () => {
    for (const ppm of [10_000, 50_000, 250_000, 500_000]) {
      const picked = many.filter((id) => spotCheckSelects(seed, id, ppm)).length;
      const p = ppm / 1_000_000;
      const sd = Math.sqrt(many.length * p * (1 - p));
      // Five standard deviations: a correct rule fails this about once in 3.5 million runs.
      expect(Math.abs(picked - many.length * p)).toBeLessThan(5 * sd);
    }
  });

  it('is deterministic for a seed and id, and a new seed picks another subset', () => {
    const pick = (s: Uint8Array) => many.slice(0, 2_000).map((id) => spotCheckSelects(s, id, 100_000));
    expect(pick(seed)).toEqual(pick(seed.slice()));
    expect(pick(newSeed())).not.toEqual(pick(seed));
  });

  it('selects none at 0 ppm and all at 1,000,000 ppm', () => {
    expect(many.some((id) => spotCheckSelects(seed, id, 0))).toBe(false);
    expect(many.every((id) => spotCheckSelects(seed, id, 1_000_000))).toBe(true);
  });

  it('follows the published formula', () => {
    const id = many[0]!;
    const h = createHash('sha256')
      .update(Buffer.concat([Buffer.from('fieldmesh/spotcheck/v1'), Buffer.of(0), seed, id]))
      .digest();
    const u = h.readBigUInt64BE(0);
    const ppmJustAbove = Number((u * 1_000_000n) >> 64n) + 1;
    expect(spotCheckSelects(seed, id, ppmJustAbove)).toBe(true);
    expect(selectionThreshold(ppmJustAbove) > u).toBe(true);
    expect(selectionThreshold(1_000_000)).toBe(2n ** 64n);
    expect(selectionThreshold(1)).toBe(18_446_744_073_709n);
  });

  it('refuses fractions outside 0..1,000,000 ppm and ids or seeds of the wrong size', () => {
    expect(() => spotCheckSelects(seed, many[0]!, 1_000_001)).toThrow(/fractionPpm must be an integer/);
    expect(() => spotCheckSelects(seed, many[0]!, 0.5)).toThrow(/fractionPpm/);
    expect(() => spotCheckSelects(new Uint8Array(16), many[0]!, 1)).toThrow(/seed must be 32 bytes/);
    expect(() => spotCheckSelects(seed, new Uint8Array(33), 1)).toThrow(/receiptId must be 32 bytes/);
  });
});

describe('newSeed', () => {
  it('returns 32 fresh random bytes', () => {
    const a = newSeed();
    expect(a.length).toBe(32);
    expect(a).not.toEqual(newSeed());
  });
});

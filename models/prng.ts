/**
 * Seeded pseudo-random numbers for data generation and training, so the same seed gives the
 * same example models byte for byte. xoshiro128** (Blackman & Vigna), seeded through
 * splitmix32 so that small neighbouring seeds give unrelated streams.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (mean 0, std 1). */
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
}

export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed ${seed} must be an integer`);
  let s = seed >>> 0;
  // Mix in the high bits too, so seeds above 2^32 still differ.
  let h = Math.floor(seed / 2 ** 32) >>> 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s ^ h;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  if ((a | b | c | d) === 0) a = 1; // the all-zero state is a fixed point

  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const next = (): number => nextU32() / 2 ** 32;
  let spare: number | undefined;

  return {
    next,
    normal() {
      // Box-Muller gives two normals per pair of uniforms; keep the second for the next call.
      if (spare !== undefined) {
        const v = spare;
        spare = undefined;
        return v;
      }
      const u = 1 - next(); // (0, 1]: log(0) would be -Infinity
      const r = Math.sqrt(-2 * Math.log(u));
      const theta = 2 * Math.PI * next();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
    int(n: number) {
      return Math.floor(next() * n);
    },
    uniform(lo: number, hi: number) {
      return lo + (hi - lo) * next();
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

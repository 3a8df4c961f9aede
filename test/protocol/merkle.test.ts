import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { inclusionProof, leafHash, merkleRoot, nodeHash, verifyInclusion } from '../../protocol/merkle.js';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

// A deliberately naive transcription of RFC 6962 §2.1 and §2.1.1, on raw data, as the oracle.
function refK(n: number): number {
  let k = 1;
  while (k < n) k *= 2;
  return k / 2;
}
function refMth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Uint8Array.of(0), d[0]!);
  const k = refK(d.length);
  return sha(Uint8Array.of(1), refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = refK(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}

const dataFor = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => Uint8Array.of(i, i >> 8, 0xaa));

describe('Merkle tree hash', () => {
  it('hashes the empty list as SHA-256("")', () => {
    expect(toHex(merkleRoot([]))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('prefixes leaves with 0x00 and nodes with 0x01', () => {
    const a = hex('61');
    expect(leafHash(a)).toEqual(sha(Uint8Array.of(0), a));
    expect(merkleRoot([a])).toEqual(leafHash(a));
    expect(merkleRoot([a, a])).toEqual(nodeHash(leafHash(a), leafHash(a)));
    expect(nodeHash(leafHash(a), leafHash(a))).toEqual(sha(Uint8Array.of(1), leafHash(a), leafHash(a)));
  });

  it('splits at the largest power of two below n (7 leaves = 4 + (2 + 1))', () => {
    const d = dataFor(7);
    const h = d.map(leafHash);
    const left = nodeHash(nodeHash(h[0]!, h[1]!), nodeHash(h[2]!, h[3]!));
    const right = nodeHash(nodeHash(h[4]!, h[5]!), h[6]!);
    expect(merkleRoot(d)).toEqual(nodeHash(left, right));
  });

  it('matches the reference implementation for sizes 0..64', () => {
    for (let n = 0; n <= 64; n++)
      expect(toHex(merkleRoot(dataFor(n))), `n=${n}`).toBe(toHex(refMth(dataFor(n))));
  });
});

describe('inclusion proofs', () => {
  it('match the reference audit path and verify, for every index of trees of 1..33 leaves', () => {
    for (let n = 1; n <= 33; n++) {
      const d = dataFor(n);
      const root = merkleRoot(d);
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(d, m);
        expect(proof.map(toHex), `n=${n} m=${m}`).toEqual(refPath(m, d).map(toHex));
        expect(verifyInclusion(d[m]!, m, n, proof, root), `n=${n} m=${m}`).toBe(true);
      }
    }
  });

  it('fail on a tampered leaf, wrong index, wrong size, altered or truncated proof, wrong root', () => {
    for (let n = 1; n <= 33; n++) {
      const d = dataFor(n);
      const root = merkleRoot(d);
      for (let m = 0; m < n; m++) {
        const leaf = d[m]!;
        const proof = inclusionProof(d, m);
        const tampered = leaf.slice();
        tampered[0]! ^= 1;
        expect(verifyInclusion(tampered, m, n, proof, root)).toBe(false);
        if (n > 1) expect(verifyInclusion(leaf, (m + 1) % n, n, proof, root)).toBe(false);
        for (const size of [n - 1, n + 1, 2 * n]) {
          // A size whose audit path for m has another length cannot verify; see the test below.
          if (size > m && refPath(m, dataFor(size)).length !== proof.length) {
            expect(verifyInclusion(leaf, m, size, proof, root), `n=${n} m=${m} size=${size}`).toBe(false);
          }
        }
        if (proof.length > 0) {
          expect(verifyInclusion(leaf, m, n, proof.slice(0, -1), root)).toBe(false);
          expect(verifyInclusion(leaf, m, n, proof.slice(1), root)).toBe(false);
          const altered = proof.map((p) => p.slice());
          altered[0]![31]! ^= 1;
          expect(verifyInclusion(leaf, m, n, altered, root)).toBe(false);
        }
        expect(verifyInclusion(leaf, m, n, [...proof, root], root)).toBe(false);
        const wrongRoot = root.slice();
        wrongRoot[0]! ^= 1;
        expect(verifyInclusion(leaf, m, n, proof, wrongRoot)).toBe(false);
      }
    }
  });

  it('rejects malformed arguments without throwing', () => {
    const d = dataFor(5);
    const root = merkleRoot(d);
    const proof = inclusionProof(d, 2);
    expect(verifyInclusion(d[2]!, -1, 5, proof, root)).toBe(false);
    expect(verifyInclusion(d[2]!, 5, 5, proof, root)).toBe(false);
    expect(verifyInclusion(d[2]!, 2.5, 5, proof, root)).toBe(false);
    expect(verifyInclusion(d[2]!, 2, 0, proof, root)).toBe(false);
    expect(verifyInclusion(d[2]!, 2, 5, proof, root.subarray(0, 31))).toBe(false);
    expect(verifyInclusion(d[2]!, 2, 5, [proof[0]!.subarray(0, 31), ...proof.slice(1)], root)).toBe(false);
    expect(verifyInclusion(d[0]!, 0, 1, [], merkleRoot([d[0]!]))).toBe(true);
  });

  it('binds the size only through the path shape, so the root must be signed with its size', () => {
    // Leaf 0 has the same audit-path shape in trees of 3 and 4 leaves (RFC 9162 §2.1.3.2 cannot
    // tell them apart); the batch header therefore signs the leaf count together with the root.
    const d = dataFor(4);
    expect(verifyInclusion(d[0]!, 0, 3, inclusionProof(d, 0), merkleRoot(d))).toBe(true);
  });

  it('refuses to build a proof for an index outside the tree', () => {
    expect(() => inclusionProof(dataFor(3), 3)).toThrow(RangeError);
    expect(() => inclusionProof([], 0)).toThrow(RangeError);
  });
});

describe('certificate-transparency reference data (merkle_tree_test)', () => {
  // The eight leaves and the roots of their prefixes from the CT project's Merkle tree tests.
  const leaves = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ].map(hex);
  const roots = [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];
  it('reproduces the root of every prefix', () => {
    for (let n = 1; n <= 8; n++) expect(toHex(merkleRoot(leaves.slice(0, n))), `n=${n}`).toBe(roots[n - 1]);
  });
});

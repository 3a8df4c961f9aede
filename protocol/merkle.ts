import { sha256 } from './sha256.js';

/**
 * RFC 6962 §2.1 Merkle Tree Hash (also RFC 9162 §2.1.1) over SHA-256, used for receipt
 * batches (leaves are receipt ids) and epoch reward roots. Leaf and interior hashes carry
 * different prefixes (0x00, 0x01) so a leaf can never be passed off as an interior node
 * (second-preimage protection, RFC 6962 §2.1).
 */

export const HASH_LENGTH = 32;

/** MTH({d(0)}) = SHA-256(0x00 ‖ d(0)) — RFC 6962 §2.1. */
export function leafHash(data: Uint8Array): Uint8Array {
  const framed = new Uint8Array(1 + data.length);
  framed.set(data, 1);
  return sha256(framed);
}

/** SHA-256(0x01 ‖ left ‖ right) — RFC 6962 §2.1. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const framed = new Uint8Array(1 + left.length + right.length);
  framed[0] = 0x01;
  framed.set(left, 1);
  framed.set(right, 1 + left.length);
  return sha256(framed);
}

/** The largest power of two strictly smaller than n, for n > 1 (RFC 6962 §2.1 "k"). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// MTH over already-hashed leaves hashes[lo, hi), hi > lo.
function subtreeRoot(hashes: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  if (hi - lo === 1) return hashes[lo]!;
  const k = splitPoint(hi - lo);
  return nodeHash(subtreeRoot(hashes, lo, lo + k), subtreeRoot(hashes, lo + k, hi));
}

/** MTH(D[n]); the hash of the empty list is SHA-256 of the empty string (RFC 6962 §2.1). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256();
  return subtreeRoot(leaves.map(leafHash), 0, leaves.length);
}

function checkIndex(index: number, treeSize: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
    throw new RangeError(`leaf index ${index} is outside a tree of ${treeSize} leaves`);
  }
}

// PATH(m, D[lo:hi]) per RFC 6962 §2.1.1, listed from the leaf up to the root.
function subtreePath(hashes: readonly Uint8Array[], m: number, lo: number, hi: number): Uint8Array[] {
  if (hi - lo === 1) return [];
  const k = splitPoint(hi - lo);
  if (m < k) return [...subtreePath(hashes, m, lo, lo + k), subtreeRoot(hashes, lo + k, hi)];
  return [...subtreePath(hashes, m - k, lo + k, hi), subtreeRoot(hashes, lo, lo + k)];
}

/** The audit path PATH(index, D[n]) of RFC 6962 §2.1.1 (RFC 9162 §2.1.3.1), leaf-to-root order. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  checkIndex(index, leaves.length);
  return subtreePath(leaves.map(leafHash), index, 0, leaves.length);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Verifies that `leafData` is leaf `index` of the tree of `treeSize` leaves whose root is
 * `root`, following RFC 9162 §2.1.3.2 step by step. Returns false on any mismatch or
 * malformed input; never throws.
 */
export function verifyInclusion(
  leafData: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize)) return false;
  // Step 1: leaf_index must be below tree_size.
  if (index < 0 || index >= treeSize) return false;
  if (root.length !== HASH_LENGTH || proof.some((p) => p.length !== HASH_LENGTH)) return false;
  // Step 2: fn = leaf_index, sn = tree_size − 1. BigInt keeps shifts exact beyond 2^31.
  let fn = BigInt(index);
  let sn = BigInt(treeSize - 1);
  // Step 3: r = the leaf hash.
  let r = leafHash(leafData);
  // Step 4: fold in each path element.
  for (const p of proof) {
    if (sn === 0n) return false; // 4a: the path is longer than the tree is deep
    if ((fn & 1n) === 1n || fn === sn) {
      // 4b: p is a left sibling.
      r = nodeHash(p, r);
      // Skip levels where this node has no right sibling (it was the last, unpaired one).
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      // 4c: p is a right sibling.
      r = nodeHash(r, p);
    }
    // 4d: up one level.
    fn >>= 1n;
    sn >>= 1n;
  }
  // Step 5: the path must reach the top exactly, and land on the root.
  return sn === 0n && equalBytes(r, root);
}

import * as crypto from 'node:crypto';

type OneShot = (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer;

// crypto.hash() costs about two thirds of a createHash object per call, which counts where a
// batch of 500 receipts hashes about a thousand times. It exists from Node 20.12; the armv7
// bundle runs on 20.11 (the last armv7l build on the npm registry), so it is looked up, not
// imported by name (a missing named import stops the whole module from loading).
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (oneShot !== undefined) return new Uint8Array(oneShot('sha256', data, 'buffer'));
  return new Uint8Array(crypto.createHash('sha256').update(data).digest());
}

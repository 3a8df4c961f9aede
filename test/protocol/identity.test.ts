import { describe, expect, it } from 'vitest';
import { base58Decode, base58Encode } from '../../protocol/base58.js';
import {
  identityFromSeed,
  PeerIdInvalidError,
  peerIdFromPublicKey,
  publicKeyFromPeerId,
} from '../../protocol/identity.js';

describe('base58', () => {
  it('round-trips bytes, keeping leading zeros', () => {
    for (const bytes of [
      [],
      [0],
      [0, 0, 1],
      [255, 254, 253],
      Array.from({ length: 38 }, (_, i) => (i * 37) % 256),
    ]) {
      const u = Uint8Array.from(bytes);
      expect(base58Decode(base58Encode(u))).toEqual(u);
    }
  });
  it('matches known vectors', () => {
    expect(base58Encode(new TextEncoder().encode('hello world'))).toBe('StV1DL6CwTryKyV');
    expect(base58Encode(Uint8Array.of(0, 0, 0x28, 0x7f, 0xb4, 0xcd))).toBe('11233QC4');
  });
  it('refuses characters outside the alphabet', () => {
    expect(base58Decode('0OIl')).toBeNull();
  });
});

describe('node identity', () => {
  // RFC 8032 test 1: the seed and public key are published test vectors.
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const pub = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');

  it('derives the RFC 8032 public key and a libp2p-style 12D3KooW PeerId', () => {
    const id = identityFromSeed(seed);
    expect(Buffer.from(id.publicKey)).toEqual(pub);
    expect(id.peerId.startsWith('12D3KooW')).toBe(true);
    expect(id.peerId).toBe(peerIdFromPublicKey(pub));
  });

  it('recovers the public key from the PeerId', () => {
    expect(Buffer.from(publicKeyFromPeerId(identityFromSeed(seed).peerId))).toEqual(pub);
  });

  it('refuses PeerIds that are not Ed25519 identity multihashes', () => {
    expect(() => publicKeyFromPeerId('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N')).toThrow(
      PeerIdInvalidError,
    );
    expect(() => publicKeyFromPeerId('12D3KooW0000')).toThrow(/not base58btc/);
  });
});

import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { identityFromSeed } from '../../protocol/identity.js';
import {
  ED25519_ORDER,
  frameMessage,
  hasCanonicalScalar,
  SignatureInputError,
  sign,
  signRaw,
  verify,
  verifyNode,
  verifyRaw,
  verifyRawNode,
} from '../../protocol/signatures.js';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const TAG = 'fieldmesh/test/v1';
const alice = identityFromSeed(new Uint8Array(32).fill(1));
const bob = identityFromSeed(new Uint8Array(32).fill(2));

/** S + L in place of S: the same point equation holds, so a lax verifier accepts it. */
function malleate(signature: Uint8Array): Uint8Array {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!);
  let t = s + ED25519_ORDER;
  const out = signature.slice();
  for (let i = 32; i < 64; i++) {
    out[i] = Number(t & 0xffn);
    t >>= 8n;
  }
  expect(t).toBe(0n); // S + L < 2^253 always fits the 32 bytes
  return out;
}

describe('Ed25519: RFC 8032 §7.1 vectors (raw, no domain tag)', () => {
  it('TEST 1 signs byte for byte', () => {
    const id = identityFromSeed(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(toHex(id.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const signature = signRaw(new Uint8Array(0), id.secretKey);
    expect(toHex(signature)).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(verifyRaw(new Uint8Array(0), signature, id.publicKey)).toBe(true);
    expect(verifyRawNode(new Uint8Array(0), signature, id.publicKey)).toBe(true);
  });
});

describe('domain framing', () => {
  it('is ASCII(tag) ‖ 0x00 ‖ message', () => {
    expect(toHex(frameMessage('a/b', Uint8Array.of(0xff, 0x00)))).toBe('612f6200ff00');
    expect(toHex(frameMessage('x', new Uint8Array(0)))).toBe('7800');
  });

  it('signs the framed bytes, so sign(tag, m) = signRaw(frame(tag, m))', () => {
    const m = utf8('hello');
    expect(sign(TAG, m, alice.secretKey)).toEqual(signRaw(frameMessage(TAG, m), alice.secretKey));
    expect(verifyRaw(m, sign(TAG, m, alice.secretKey), alice.publicKey)).toBe(false);
  });

  it('refuses empty, non-ASCII, spaced, NUL-bearing or overlong tags', () => {
    for (const tag of ['', 'a b', 'caf\u00e9', 'a\u0000b', 'x'.repeat(65)]) {
      expect(() => frameMessage(tag, new Uint8Array(0))).toThrow(SignatureInputError);
    }
    expect(() => frameMessage('x'.repeat(64), new Uint8Array(0))).not.toThrow();
  });

  it('a signature under one tag does not verify under another', () => {
    const m = utf8('batch');
    const signature = sign('fieldmesh/batch/v1', m, alice.secretKey);
    expect(verify('fieldmesh/batch/v1', m, signature, alice.publicKey)).toBe(true);
    expect(verify('fieldmesh/voucher/v1', m, signature, alice.publicKey)).toBe(false);
    expect(verifyNode('fieldmesh/voucher/v1', m, signature, alice.publicKey)).toBe(false);
  });

  it('refuses a secret key of the wrong length', () => {
    expect(() => sign(TAG, new Uint8Array(0), alice.secretKey.subarray(0, 32))).toThrow(/64 bytes/);
  });
});

describe('tweetnacl and node:crypto agree', () => {
  const messages = [new Uint8Array(0), utf8('x'), new Uint8Array(1000).map((_, i) => i * 7)];

  function both(m: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): [boolean, boolean] {
    return [verify(TAG, m, signature, publicKey), verifyNode(TAG, m, signature, publicKey)];
  }

  it('on valid signatures', () => {
    for (const m of messages)
      expect(both(m, sign(TAG, m, alice.secretKey), alice.publicKey)).toEqual([true, true]);
  });

  it('on tampered messages and signatures', () => {
    for (const m of messages) {
      const signature = sign(TAG, m, alice.secretKey);
      const longer = Uint8Array.of(...m, 0);
      expect(both(longer, signature, alice.publicKey)).toEqual([false, false]);
      if (m.length > 0) {
        const flipped = m.slice();
        flipped[0]! ^= 1;
        expect(both(flipped, signature, alice.publicKey)).toEqual([false, false]);
      }
      for (const at of [0, 31, 32, 63]) {
        const bad = signature.slice();
        bad[at]! ^= 0x01;
        expect(both(m, bad, alice.publicKey)).toEqual([false, false]);
      }
    }
  });

  it('on the wrong key and on malformed inputs', () => {
    const m = utf8('job');
    const signature = sign(TAG, m, alice.secretKey);
    expect(both(m, signature, bob.publicKey)).toEqual([false, false]);
    expect(both(m, signature.subarray(0, 63), alice.publicKey)).toEqual([false, false]);
    expect(both(m, signature, alice.publicKey.subarray(0, 31))).toEqual([false, false]);
    expect(both(m, new Uint8Array(64), alice.publicKey)).toEqual([false, false]);
    expect(both(m, signature, new Uint8Array(32).fill(0xff))).toEqual([false, false]);
  });

  it('on malleated signatures (S + L), which tweetnacl alone would accept', () => {
    for (const m of messages) {
      const signature = sign(TAG, m, alice.secretKey);
      const malleated = malleate(signature);
      expect(hasCanonicalScalar(signature)).toBe(true);
      expect(hasCanonicalScalar(malleated)).toBe(false);
      // The hazard being guarded against: bare tweetnacl says yes.
      expect(nacl.sign.detached.verify(frameMessage(TAG, m), malleated, alice.publicKey)).toBe(true);
      expect(both(m, malleated, alice.publicKey)).toEqual([false, false]);
    }
  });

  it('hasCanonicalScalar draws the line exactly at L', () => {
    const at = (s: bigint): Uint8Array => {
      const out = new Uint8Array(64);
      for (let i = 32; i < 64; i++) {
        out[i] = Number(s & 0xffn);
        s >>= 8n;
      }
      return out;
    };
    expect(hasCanonicalScalar(at(ED25519_ORDER - 1n))).toBe(true);
    expect(hasCanonicalScalar(at(ED25519_ORDER))).toBe(false);
    expect(hasCanonicalScalar(at(2n ** 256n - 1n))).toBe(false);
    expect(hasCanonicalScalar(new Uint8Array(63))).toBe(false);
  });
});

import nacl from 'tweetnacl';
import { base58Decode, base58Encode } from './base58.js';
import { FieldmeshError } from './errors.js';

/**
 * A node's identity: one Ed25519 key pair. The node id is the libp2p PeerId of the public
 * key, so the same `12D3KooW…` string names the node in mDNS, MQTT and receipts.
 */
export interface NodeIdentity {
  readonly peerId: string;
  readonly publicKey: Uint8Array; // 32 bytes
  readonly secretKey: Uint8Array; // 64 bytes, tweetnacl layout: seed ‖ public key
}

export class PeerIdInvalidError extends FieldmeshError {
  constructor(peerId: string, why: string) {
    super('PEER_ID_INVALID', `"${peerId}" is not an Ed25519 PeerId: ${why}`);
  }
}

// libp2p PublicKey protobuf: field 1 (KeyType) = 1 (Ed25519), field 2 (Data) = 32 bytes.
const ED25519_KEY_PREFIX = Uint8Array.of(0x08, 0x01, 0x12, 0x20);
// Multihash "identity" (code 0x00) of the 36-byte protobuf: keys this small are inlined.
const IDENTITY_MULTIHASH_PREFIX = Uint8Array.of(0x00, 0x24);

export function identityFromSeed(seed: Uint8Array): NodeIdentity {
  if (seed.length !== 32)
    throw new FieldmeshError('KEY_INVALID', `an Ed25519 seed is 32 bytes, got ${seed.length}`);
  const pair = nacl.sign.keyPair.fromSeed(seed);
  return {
    peerId: peerIdFromPublicKey(pair.publicKey),
    publicKey: pair.publicKey,
    secretKey: pair.secretKey,
  };
}

export function peerIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) {
    throw new FieldmeshError('KEY_INVALID', `an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  }
  const bytes = new Uint8Array(IDENTITY_MULTIHASH_PREFIX.length + ED25519_KEY_PREFIX.length + 32);
  bytes.set(IDENTITY_MULTIHASH_PREFIX, 0);
  bytes.set(ED25519_KEY_PREFIX, IDENTITY_MULTIHASH_PREFIX.length);
  bytes.set(publicKey, IDENTITY_MULTIHASH_PREFIX.length + ED25519_KEY_PREFIX.length);
  return base58Encode(bytes);
}

/** The public key inside an Ed25519 PeerId; throws PeerIdInvalidError on anything else. */
export function publicKeyFromPeerId(peerId: string): Uint8Array {
  const bytes = base58Decode(peerId);
  if (bytes === null) throw new PeerIdInvalidError(peerId, 'not base58btc');
  const header = [...IDENTITY_MULTIHASH_PREFIX, ...ED25519_KEY_PREFIX];
  if (bytes.length !== header.length + 32 || header.some((b, i) => bytes[i] !== b)) {
    throw new PeerIdInvalidError(peerId, 'not an identity multihash of an Ed25519 public key');
  }
  return bytes.slice(header.length);
}

import { randomBytes } from 'node:crypto';
import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';
import { publicKeyFromPeerId } from './identity.js';
import { signNode, verifyNode } from './signatures.js';

/**
 * How a mesh node logs in to an MQTT broker without a shared secret (docs/protocol.md §13):
 * the MQTT username is its PeerId, the password a short-lived token it signs with its node key.
 *
 *   password = "fmt1." ‖ base64url(cbor) ‖ "." ‖ base64url(signature)
 *   cbor     = [1, clientId, issuedAtMs, expiresAtMs, nonce(16 bytes)]
 *   signature = Ed25519 over "fieldmesh/broker-token/v1" ‖ 0x00 ‖ cbor, by the PeerId's key
 *
 * The token names the MQTT client id, so it cannot be used for another session; the nonce lets
 * a broker refuse a replay while the token is still fresh.
 */

export const BROKER_TOKEN_DOMAIN_TAG = 'fieldmesh/broker-token/v1';
export const BROKER_TOKEN_PREFIX = 'fmt1.';
const TOKEN_VERSION = 1;
const NONCE_BYTES = 16;
/** Longest token text accepted before any decoding (a real one is about 230 characters). */
const MAX_TOKEN_CHARS = 1024;

export interface BrokerTokenClaims {
  readonly clientId: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  readonly nonce: Uint8Array;
}

/** Why a token was refused; `code` is stable, `message` says what to do. */
export class BrokerTokenError extends FieldmeshError {
  constructor(
    readonly reason:
      | 'malformed'
      | 'bad_signature'
      | 'client_mismatch'
      | 'expired'
      | 'not_yet_valid'
      | 'too_long',
    message: string,
  ) {
    super('BROKER_TOKEN_INVALID', message);
  }
}

/** True when an MQTT password is a node token (and not a device password). */
export function isBrokerToken(password: string | Uint8Array | undefined): boolean {
  if (password === undefined) return false;
  const text = typeof password === 'string' ? password : Buffer.from(password).toString('latin1');
  return text.startsWith(BROKER_TOKEN_PREFIX);
}

/** Signs a token for `clientId`, valid from `nowMs` for `lifetimeMs`. */
export function issueBrokerToken(
  secretKey: Uint8Array,
  clientId: string,
  nowMs: number,
  lifetimeMs: number,
  nonce: Uint8Array = randomBytes(NONCE_BYTES),
): string {
  const body = encodeCbor([
    TOKEN_VERSION,
    clientId,
    Math.floor(nowMs),
    Math.floor(nowMs + lifetimeMs),
    nonce,
  ]);
  const signature = signNode(BROKER_TOKEN_DOMAIN_TAG, body, secretKey);
  return `${BROKER_TOKEN_PREFIX}${b64(body)}.${b64(signature)}`;
}

export interface TokenCheck {
  /** The PeerId the client gave as its MQTT username. */
  readonly peerId: string;
  /** The client id of the CONNECT. */
  readonly clientId: string;
  readonly nowMs: number;
  /** Tolerated difference between the node's clock and ours. */
  readonly clockSkewMs: number;
  /** Longest lifetime (expires − issued) accepted. */
  readonly maxLifetimeMs: number;
}

/** Verifies a token; returns its claims or throws BrokerTokenError saying what is wrong. */
export function verifyBrokerToken(password: string | Uint8Array, check: TokenCheck): BrokerTokenClaims {
  const text = typeof password === 'string' ? password : Buffer.from(password).toString('latin1');
  if (text.length > MAX_TOKEN_CHARS) throw new BrokerTokenError('malformed', 'token is too long');
  const parts = text.slice(BROKER_TOKEN_PREFIX.length).split('.');
  if (!text.startsWith(BROKER_TOKEN_PREFIX) || parts.length !== 2) {
    throw new BrokerTokenError('malformed', `token is not ${BROKER_TOKEN_PREFIX}<body>.<signature>`);
  }
  const body = unb64(parts[0] ?? '');
  const signature = unb64(parts[1] ?? '');
  let publicKey: Uint8Array;
  try {
    publicKey = publicKeyFromPeerId(check.peerId);
  } catch {
    throw new BrokerTokenError('malformed', `username ${JSON.stringify(check.peerId)} is not a node PeerId`);
  }
  if (!verifyNode(BROKER_TOKEN_DOMAIN_TAG, body, signature, publicKey)) {
    throw new BrokerTokenError('bad_signature', `token is not signed by node ${check.peerId}`);
  }
  const claims = decodeClaims(body);
  if (claims.clientId !== check.clientId) {
    throw new BrokerTokenError(
      'client_mismatch',
      `token was issued for client id ${JSON.stringify(claims.clientId)}, not ${JSON.stringify(check.clientId)}`,
    );
  }
  if (
    claims.expiresAtMs - claims.issuedAtMs > check.maxLifetimeMs ||
    claims.expiresAtMs < claims.issuedAtMs
  ) {
    throw new BrokerTokenError(
      'too_long',
      `token lifetime ${claims.expiresAtMs - claims.issuedAtMs} ms exceeds the broker's ${check.maxLifetimeMs} ms`,
    );
  }
  const skewNote = 'if this keeps happening, the two clocks differ: sync them (NTP/chrony)';
  if (claims.issuedAtMs > check.nowMs + check.clockSkewMs) {
    const ahead = Math.round((claims.issuedAtMs - check.nowMs) / 1000);
    throw new BrokerTokenError(
      'not_yet_valid',
      `token issued ${ahead} s in the broker's future; ${skewNote}`,
    );
  }
  if (claims.expiresAtMs + check.clockSkewMs < check.nowMs) {
    const ago = Math.round((check.nowMs - claims.expiresAtMs) / 1000);
    throw new BrokerTokenError('expired', `token expired ${ago} s ago by the broker's clock; ${skewNote}`);
  }
  return claims;
}

function decodeClaims(body: Uint8Array): BrokerTokenClaims {
  let value: CborValue;
  try {
    value = decodeCbor(body);
  } catch {
    throw new BrokerTokenError('malformed', 'token body is not canonical CBOR');
  }
  if (!Array.isArray(value) || value.length !== 5 || value[0] !== TOKEN_VERSION) {
    throw new BrokerTokenError('malformed', `token body is not a version ${TOKEN_VERSION} token`);
  }
  const [, clientId, issuedAtMs, expiresAtMs, nonce] = value as CborValue[];
  if (
    typeof clientId !== 'string' ||
    typeof issuedAtMs !== 'number' ||
    typeof expiresAtMs !== 'number' ||
    !(nonce instanceof Uint8Array) ||
    nonce.length !== NONCE_BYTES
  ) {
    throw new BrokerTokenError('malformed', 'token body fields have the wrong types');
  }
  return { clientId, issuedAtMs, expiresAtMs, nonce };
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function unb64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

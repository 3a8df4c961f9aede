import { randomBytes } from 'node:crypto';
import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';
import { publicKeyFromPeerId } from './identity.js';
import { signNode, verifyNode } from './signatures.js';

/**
 * How one mesh node proves who it is on a request to another node's mesh API (docs/mesh.md):
 *
 *   Authorization: Fieldmesh <token>
 *   token     = "fmr1." ‖ base64url(cbor) ‖ "." ‖ base64url(signature)
 *   cbor      = [1, requesterPeerId, audiencePeerId, scope, issuedAtMs, expiresAtMs, nonce(16 bytes)]
 *   signature = Ed25519 over "fieldmesh/mesh-request/v1" ‖ 0x00 ‖ cbor, by requesterPeerId's key
 *
 * The token names the node it is for (audience) and what it is for (scope, e.g. the request
 * path `/v1/models/<sha256>`), so a node that receives one cannot replay it against another
 * node or for another resource. The requester's key comes from its PeerId, which the body
 * carries; nothing else needs to be shared.
 */
export const MESH_TOKEN_DOMAIN_TAG = 'fieldmesh/mesh-request/v1';
export const MESH_TOKEN_PREFIX = 'fmr1.';
const TOKEN_VERSION = 1;
const NONCE_BYTES = 16;
const MAX_TOKEN_CHARS = 2048;
const MAX_SCOPE_BYTES = 512;

export interface MeshTokenClaims {
  readonly peerId: string;
  readonly audience: string;
  readonly scope: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  readonly nonce: Uint8Array;
}

export type MeshTokenReason =
  | 'malformed'
  | 'bad_signature'
  | 'wrong_audience'
  | 'wrong_scope'
  | 'expired'
  | 'not_yet_valid'
  | 'too_long';

export class MeshTokenError extends FieldmeshError {
  constructor(
    readonly reason: MeshTokenReason,
    message: string,
  ) {
    super('MESH_TOKEN_INVALID', message);
  }
}

export interface MeshTokenRequest {
  /** PeerId of the node the request goes to. */
  readonly audience: string;
  /** What the token allows; the API server compares it with the request path. */
  readonly scope: string;
  readonly nowMs: number;
  readonly lifetimeMs: number;
  readonly nonce?: Uint8Array;
}

/** Signs a token for the node `identity` (its PeerId and 64-byte secret key). */
export function issueMeshToken(
  identity: { readonly peerId: string; readonly secretKey: Uint8Array },
  request: MeshTokenRequest,
): string {
  const body = encodeCbor([
    TOKEN_VERSION,
    identity.peerId,
    request.audience,
    request.scope,
    Math.floor(request.nowMs),
    Math.floor(request.nowMs + request.lifetimeMs),
    request.nonce ?? randomBytes(NONCE_BYTES),
  ]);
  return `${MESH_TOKEN_PREFIX}${b64(body)}.${b64(signNode(MESH_TOKEN_DOMAIN_TAG, body, identity.secretKey))}`;
}

export interface MeshTokenCheck {
  /** This node's PeerId. */
  readonly audience: string;
  readonly scope: string;
  readonly nowMs: number;
  readonly clockSkewMs: number;
  readonly maxLifetimeMs: number;
}

/** Verifies a token; returns its claims or throws MeshTokenError saying what is wrong. */
export function verifyMeshToken(token: string, check: MeshTokenCheck): MeshTokenClaims {
  if (token.length > MAX_TOKEN_CHARS) throw new MeshTokenError('malformed', 'token is too long');
  const parts = token.slice(MESH_TOKEN_PREFIX.length).split('.');
  if (!token.startsWith(MESH_TOKEN_PREFIX) || parts.length !== 2) {
    throw new MeshTokenError('malformed', `token is not ${MESH_TOKEN_PREFIX}<body>.<signature>`);
  }
  const body = unb64(parts[0] ?? '');
  const claims = decodeClaims(body);
  let key: Uint8Array;
  try {
    key = publicKeyFromPeerId(claims.peerId);
  } catch {
    throw new MeshTokenError('malformed', `token names ${JSON.stringify(claims.peerId)}, not a node PeerId`);
  }
  if (!verifyNode(MESH_TOKEN_DOMAIN_TAG, body, unb64(parts[1] ?? ''), key)) {
    throw new MeshTokenError('bad_signature', `token is not signed by node ${claims.peerId}`);
  }
  if (claims.audience !== check.audience) {
    throw new MeshTokenError(
      'wrong_audience',
      `token was issued for node ${claims.audience}, not this node (${check.audience})`,
    );
  }
  if (claims.scope !== check.scope) {
    throw new MeshTokenError(
      'wrong_scope',
      `token was issued for ${JSON.stringify(claims.scope)}, not ${JSON.stringify(check.scope)}`,
    );
  }
  checkTimes(claims, check);
  return claims;
}

function checkTimes(claims: MeshTokenClaims, check: MeshTokenCheck): void {
  const lifetime = claims.expiresAtMs - claims.issuedAtMs;
  if (lifetime > check.maxLifetimeMs || lifetime < 0) {
    throw new MeshTokenError(
      'too_long',
      `token lifetime ${lifetime} ms is outside the allowed 0-${check.maxLifetimeMs} ms`,
    );
  }
  const skewNote = 'if this keeps happening, the two clocks differ: sync them (NTP/chrony)';
  if (claims.issuedAtMs > check.nowMs + check.clockSkewMs) {
    const ahead = Math.round((claims.issuedAtMs - check.nowMs) / 1000);
    throw new MeshTokenError('not_yet_valid', `token issued ${ahead} s in this node's future; ${skewNote}`);
  }
  if (claims.expiresAtMs + check.clockSkewMs < check.nowMs) {
    const ago = Math.round((check.nowMs - claims.expiresAtMs) / 1000);
    throw new MeshTokenError('expired', `token expired ${ago} s ago by this node's clock; ${skewNote}`);
  }
}

function decodeClaims(body: Uint8Array): MeshTokenClaims {
  let value: CborValue;
  try {
    value = decodeCbor(body, { maxDepth: 1 });
  } catch {
    throw new MeshTokenError('malformed', 'token body is not canonical CBOR');
  }
  if (!Array.isArray(value) || value.length !== 7 || value[0] !== TOKEN_VERSION) {
    throw new MeshTokenError('malformed', `token body is not a version ${TOKEN_VERSION} mesh token`);
  }
  const [, peerId, audience, scope, issuedAtMs, expiresAtMs, nonce] = value as CborValue[];
  if (
    typeof peerId !== 'string' ||
    typeof audience !== 'string' ||
    typeof scope !== 'string' ||
    Buffer.byteLength(scope) > MAX_SCOPE_BYTES ||
    typeof issuedAtMs !== 'number' ||
    typeof expiresAtMs !== 'number' ||
    !(nonce instanceof Uint8Array) ||
    nonce.length !== NONCE_BYTES
  ) {
    throw new MeshTokenError('malformed', 'token body fields have the wrong types');
  }
  return { peerId, audience, scope, issuedAtMs, expiresAtMs, nonce };
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function unb64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

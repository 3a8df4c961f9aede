/**
 * Publisher signatures on model manifests. A publisher is an Ed25519 key, named by its PeerId
 * like a node (`fieldmesh keys create` makes one). It signs the manifest's canonical JSON — every
 * field but the signature itself, keys sorted — under the domain tag below. The manifest holds
 * the sha256 of the .onnx, so the signature covers the model bytes too.
 */
import { FieldmeshError } from '../protocol/errors.js';
import { type NodeIdentity, publicKeyFromPeerId } from '../protocol/identity.js';
import { signNode, verifyNode } from '../protocol/signatures.js';

export const MANIFEST_DOMAIN_TAG = 'fieldmesh/model-manifest/v1';

/** What a manifest says about who published it, once checked. */
export type PublisherCheck =
  | { readonly state: 'unsigned' }
  | { readonly state: 'signed'; readonly id: string; readonly name?: string };

/** A manifest carries a publisher signature that does not hold. Never loaded, whatever the policy. */
export class ManifestSignatureError extends FieldmeshError {
  constructor(source: string, why: string) {
    super(
      'MANIFEST_SIGNATURE_INVALID',
      `${source}: the publisher signature does not hold: ${why}. ` +
        'The manifest was changed after it was signed, or signed by another key: get the published ' +
        'manifest again, or sign it anew (fieldmesh models sign).',
    );
  }
}

/** The agent accepts only listed publishers and this model is unsigned or signed by another. */
export class ModelPublisherUntrustedError extends FieldmeshError {
  constructor(modelId: string, source: string, check: PublisherCheck, allowed: readonly string[]) {
    const who =
      check.state === 'unsigned'
        ? 'is not signed'
        : `is signed by ${check.id}${check.name ? ` (${check.name})` : ''}, who is not listed`;
    super(
      'MODEL_PUBLISHER_UNTRUSTED',
      `model "${modelId}" (${source}) ${who}; modelPublishers allows only ${allowed.join(', ')}. ` +
        'Use a manifest signed by one of them, or add its publisher to modelPublishers.',
    );
  }
}

/** JSON with object keys sorted at every level and no spaces: the same value gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The bytes a publisher signs: the manifest without `publisher.signature`, canonical, UTF-8. */
export function manifestSigningBytes(raw: Readonly<Record<string, unknown>>): Uint8Array {
  const publisher = raw.publisher as Record<string, unknown> | undefined;
  const copy: Record<string, unknown> = { ...raw };
  if (publisher !== undefined && typeof publisher === 'object' && publisher !== null) {
    const { signature: _signature, ...rest } = publisher;
    copy.publisher = rest;
  }
  return new TextEncoder().encode(canonicalJson(copy));
}

/** A copy of the raw manifest signed by `identity`, replacing any earlier publisher. */
export function signManifestJson(
  raw: Readonly<Record<string, unknown>>,
  identity: NodeIdentity,
  name?: string,
): Record<string, unknown> {
  const publisher: Record<string, unknown> = { id: identity.peerId, ...(name ? { name } : {}) };
  const unsigned = { ...raw, publisher };
  const signature = signNode(MANIFEST_DOMAIN_TAG, manifestSigningBytes(unsigned), identity.secretKey);
  return { ...raw, publisher: { ...publisher, signature: Buffer.from(signature).toString('base64') } };
}

/**
 * Checks the publisher signature of a raw (already schema-valid) manifest. Unsigned is an
 * answer, not an error; a signature that does not verify throws ManifestSignatureError.
 */
export function checkManifestSignature(
  raw: Readonly<Record<string, unknown>>,
  source: string,
): PublisherCheck {
  const p = raw.publisher as { id: string; name?: string; signature: string } | undefined;
  if (p === undefined) return { state: 'unsigned' };
  let key: Uint8Array;
  try {
    key = publicKeyFromPeerId(p.id);
  } catch (err) {
    throw new ManifestSignatureError(source, `publisher.id: ${(err as Error).message}`);
  }
  const signature = new Uint8Array(Buffer.from(p.signature, 'base64'));
  if (signature.length !== 64) {
    throw new ManifestSignatureError(source, `publisher.signature is ${signature.length} bytes, not 64`);
  }
  if (!verifyNode(MANIFEST_DOMAIN_TAG, manifestSigningBytes(raw), signature, key)) {
    throw new ManifestSignatureError(source, `it does not verify under ${p.id}`);
  }
  return { state: 'signed', id: p.id, ...(p.name ? { name: p.name } : {}) };
}

/** Applies `modelPublishers`: 'any' lets every model in; a list only models signed by one of them. */
export function checkPublisherPolicy(
  check: PublisherCheck,
  allowed: 'any' | readonly string[],
  modelId: string,
  source: string,
): void {
  if (allowed === 'any') return;
  if (check.state === 'signed' && allowed.includes(check.id)) return;
  throw new ModelPublisherUntrustedError(modelId, source, check, allowed);
}

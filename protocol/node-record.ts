import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';
import { publicKeyFromPeerId } from './identity.js';
import { signNode, verifyNode } from './signatures.js';

/**
 * The signed node record (docs/mesh.md): what a node says about itself to the mesh. A peer
 * learned over mDNS is trusted only once such a record verifies under the key inside the
 * PeerId it announced (DESIGN.md "Identity").
 *
 * Body (canonical CBOR array, cbor.ts), in this order:
 *
 *   [0]  version          uint = 1
 *   [1]  publicKey        bstr .size 32    the node key
 *   [2]  name             tstr ≤ 64 bytes  operator-given or host name
 *   [3]  softwareVersion  tstr ≤ 32 bytes
 *   [4]  issuedAtMs       uint             Unix epoch ms on the node's clock
 *   [5]  apiUrl           tstr ≤ 256 bytes base URL of the node's mesh API
 *   [6]  brokerUrl        tstr ≤ 256 bytes MQTT URL of the broker it hosts; "" when none
 *   [7]  brokerPriority   uint             0 = never hosts the broker
 *   [8]  offloadSlots     uint
 *   [9]  loadPermille     uint
 *   [10] models           array ≤ 64 of [id tstr ≤ 64, version tstr ≤ 32, sha256 bstr .size 32,
 *                                         computeUs uint]
 *
 * Every uint is at most 2^53 − 1. Signature: Ed25519 by the node key over
 * `"fieldmesh/node-record/v1" ‖ 0x00 ‖ recordBytes`, verified over the bytes as received.
 * Wire form: the CBOR array `[recordBytes, signature]`.
 */
export const NODE_RECORD_DOMAIN_TAG = 'fieldmesh/node-record/v1';
export const NODE_RECORD_VERSION = 1;
export const MAX_MODELS = 64;
/** Largest wire form accepted before decoding; a full record (64 models) is about 9 KiB. */
export const MAX_SIGNED_NODE_RECORD_BYTES = 16 * 1024;
const KEY_LENGTH = 32;
const DIGEST_LENGTH = 32;
const SIGNATURE_LENGTH = 64;
const TEXT_LIMITS = { name: 64, softwareVersion: 32, apiUrl: 256, brokerUrl: 256 } as const;
const MODEL_ID_LIMIT = 64;
const MODEL_VERSION_LIMIT = 32;

export interface NodeRecordModel {
  readonly id: string;
  readonly version: string;
  /** sha256 of the .onnx bytes. */
  readonly sha256: Uint8Array;
  readonly computeUs: number;
}

export interface NodeRecordFields {
  readonly publicKey: Uint8Array;
  readonly name: string;
  readonly softwareVersion: string;
  readonly issuedAtMs: number;
  readonly apiUrl: string;
  /** '' when the node hosts no broker. */
  readonly brokerUrl: string;
  readonly brokerPriority: number;
  readonly offloadSlots: number;
  readonly loadPermille: number;
  readonly models: readonly NodeRecordModel[];
}

export interface SignedNodeRecord {
  readonly recordBytes: Uint8Array;
  readonly signature: Uint8Array;
}

/** Why a record was refused; stable, used as a metric label. */
export type NodeRecordReason = 'invalid' | 'bad_signature' | 'spoofed' | 'stale' | 'future';

const CODES: Record<NodeRecordReason, string> = {
  invalid: 'NODE_RECORD_INVALID',
  bad_signature: 'NODE_RECORD_SIGNATURE_INVALID',
  spoofed: 'NODE_RECORD_KEY_MISMATCH',
  stale: 'NODE_RECORD_STALE',
  future: 'NODE_RECORD_FROM_FUTURE',
};

export class NodeRecordError extends FieldmeshError {
  /** The field at fault for 'invalid' (`body` for the encoding as a whole). */
  readonly field: string | undefined;

  constructor(
    readonly reason: NodeRecordReason,
    message: string,
    field?: string,
    options?: { cause?: unknown },
  ) {
    super(CODES[reason], message, options);
    this.field = field;
  }
}

type Field = keyof NodeRecordFields;
const FIELD_ORDER: readonly Field[] = [
  'publicKey',
  'name',
  'softwareVersion',
  'issuedAtMs',
  'apiUrl',
  'brokerUrl',
  'brokerPriority',
  'offloadSlots',
  'loadPermille',
  'models',
];
const UINT_FIELDS = new Set<Field>(['issuedAtMs', 'brokerPriority', 'offloadSlots', 'loadPermille']);

function invalid(field: string, message: string, cause?: unknown): NodeRecordError {
  return new NodeRecordError(
    'invalid',
    `node record rejected: ${field} ${message}; the sending node runs an incompatible or broken fieldmesh — upgrade it`,
    field,
    cause === undefined ? undefined : { cause },
  );
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function checkText(field: string, value: unknown, limit: number): void {
  if (typeof value !== 'string') throw invalid(field, 'must be a text string');
  if (utf8Length(value) > limit) throw invalid(field, `must be at most ${limit} bytes of UTF-8`);
}

function checkModel(index: number, value: unknown): NodeRecordModel {
  const at = `models[${index}]`;
  if (!Array.isArray(value) || value.length !== 4) {
    throw invalid(at, 'must be [id, version, sha256, computeUs]');
  }
  const [id, version, sha256, computeUs] = value as unknown[];
  checkText(`${at}.id`, id, MODEL_ID_LIMIT);
  checkText(`${at}.version`, version, MODEL_VERSION_LIMIT);
  if (!(sha256 instanceof Uint8Array) || sha256.length !== DIGEST_LENGTH) {
    throw invalid(`${at}.sha256`, `must be ${DIGEST_LENGTH} bytes`);
  }
  if (!isUint(computeUs)) throw invalid(`${at}.computeUs`, 'must be an integer in [0, 2^53 - 1]');
  return { id: id as string, version: version as string, sha256, computeUs };
}

/** Checks every field; throws NodeRecordError('invalid') naming the first bad one. */
function checkFields(v: Readonly<Record<Field, unknown>>): NodeRecordFields {
  for (const field of FIELD_ORDER) {
    const value = v[field];
    if (field === 'publicKey') {
      if (!(value instanceof Uint8Array) || value.length !== KEY_LENGTH) {
        throw invalid(field, `must be ${KEY_LENGTH} bytes`);
      }
    } else if (field === 'models') {
      if (!Array.isArray(value)) throw invalid(field, 'must be an array');
      if (value.length > MAX_MODELS) throw invalid(field, `must list at most ${MAX_MODELS} models`);
    } else if (UINT_FIELDS.has(field)) {
      if (!isUint(value)) throw invalid(field, 'must be an integer in [0, 2^53 - 1]');
    } else {
      checkText(field, value, TEXT_LIMITS[field as keyof typeof TEXT_LIMITS]);
    }
  }
  const models = (v.models as readonly unknown[]).map((m, i) => checkModel(i, m));
  return { ...(v as unknown as NodeRecordFields), models };
}

function modelToCbor(m: NodeRecordModel): CborValue {
  return [m.id, m.version, m.sha256, m.computeUs];
}

/** Validates and encodes a record body; throws NodeRecordError('invalid') naming the bad field. */
export function encodeNodeRecord(fields: NodeRecordFields): Uint8Array {
  const models: unknown = Array.isArray(fields.models) ? fields.models.map(modelToArray) : fields.models;
  const checked = checkFields({ ...fields, models } as unknown as Record<Field, unknown>);
  return encodeCbor([
    NODE_RECORD_VERSION,
    ...FIELD_ORDER.map((field) =>
      field === 'models' ? checked.models.map(modelToCbor) : (checked[field] as CborValue),
    ),
  ]);
}

function modelToArray(m: unknown): unknown {
  if (typeof m !== 'object' || m === null) return m;
  const { id, version, sha256, computeUs } = m as Record<string, unknown>;
  return [id, version, sha256, computeUs];
}

/** Decodes and validates a record body (canonical CBOR only); throws NodeRecordError('invalid'). */
export function decodeNodeRecord(recordBytes: Uint8Array): NodeRecordFields {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(recordBytes, { maxDepth: 3 });
  } catch (err) {
    throw invalid('body', `is not canonical CBOR (${(err as Error).message})`, err);
  }
  if (!Array.isArray(decoded) || decoded.length !== FIELD_ORDER.length + 1) {
    throw invalid('body', `must be an array of ${FIELD_ORDER.length + 1} items`);
  }
  const [version, ...values] = decoded as readonly CborValue[];
  if (version !== NODE_RECORD_VERSION) {
    throw invalid('version', `is ${String(version)}, this node reads version ${NODE_RECORD_VERSION}`);
  }
  const fields = Object.fromEntries(FIELD_ORDER.map((field, i) => [field, values[i]])) as Record<
    Field,
    unknown
  >;
  return checkFields(fields);
}

/** Encodes `fields` and signs them with the node's 64-byte secret key (seed ‖ public key). */
export function signNodeRecord(fields: NodeRecordFields, secretKey: Uint8Array): SignedNodeRecord {
  const recordBytes = encodeNodeRecord(fields);
  if (secretKey.length !== 64 || Buffer.compare(secretKey.subarray(32), fields.publicKey) !== 0) {
    throw new NodeRecordError(
      'spoofed',
      'the secret key must be the 64-byte key (seed ‖ public key) of the record publicKey',
    );
  }
  return { recordBytes, signature: signNode(NODE_RECORD_DOMAIN_TAG, recordBytes, secretKey) };
}

export interface NodeRecordCheck {
  /** The PeerId the node announced (mDNS); the record must carry its key. */
  readonly peerId: string;
  readonly nowMs: number;
  /** Largest accepted |issuedAtMs − nowMs|. */
  readonly maxSkewMs: number;
}

/**
 * Checks a signed record: well-formed, signed by the key in its body, that key is the one in
 * `peerId`, and issued within `maxSkewMs` of `nowMs`. Returns the fields or throws
 * NodeRecordError saying what is wrong.
 */
export function verifyNodeRecord(signed: SignedNodeRecord, check: NodeRecordCheck): NodeRecordFields {
  const fields = decodeNodeRecord(signed.recordBytes);
  if (!verifyNode(NODE_RECORD_DOMAIN_TAG, signed.recordBytes, signed.signature, fields.publicKey)) {
    throw new NodeRecordError(
      'bad_signature',
      `node record announced as ${check.peerId}: the signature does not verify under the key in the record; the record was altered in transit or signed with another key — ignore it`,
    );
  }
  let announced: Uint8Array;
  try {
    announced = publicKeyFromPeerId(check.peerId);
  } catch (err) {
    throw new NodeRecordError(
      'spoofed',
      `announced PeerId ${JSON.stringify(check.peerId)} is not an Ed25519 PeerId, so no record can match it`,
      undefined,
      { cause: err },
    );
  }
  if (Buffer.compare(announced, fields.publicKey) !== 0) {
    throw new NodeRecordError(
      'spoofed',
      `node record announced as ${check.peerId} is signed by another key (${shortKey(fields.publicKey)}): someone announces a PeerId it does not own — the record is ignored; find the host at its apiUrl ${fields.apiUrl}`,
    );
  }
  checkIssuedAt(fields.issuedAtMs, check);
  return fields;
}

function shortKey(key: Uint8Array): string {
  return `${Buffer.from(key).toString('hex').slice(0, 16)}…`;
}

function checkIssuedAt(issuedAtMs: number, check: NodeRecordCheck): void {
  const diffMs = issuedAtMs - check.nowMs;
  if (Math.abs(diffMs) <= check.maxSkewMs) return;
  const seconds = Math.round(Math.abs(diffMs) / 1000);
  const limit = Math.round(check.maxSkewMs / 1000);
  const advice = 'the two clocks differ: sync both nodes with NTP/chrony';
  if (diffMs > 0) {
    throw new NodeRecordError(
      'future',
      `node record from ${check.peerId} was issued ${seconds} s ahead of this node's clock (allowed ${limit} s); ${advice}`,
    );
  }
  throw new NodeRecordError(
    'stale',
    `node record from ${check.peerId} was issued ${seconds} s before this node's clock (allowed ${limit} s): a replayed old record, or ${advice}`,
  );
}

/** The wire form: CBOR `[recordBytes, signature]`. */
export function encodeSignedNodeRecord(signed: SignedNodeRecord): Uint8Array {
  return encodeCbor([signed.recordBytes, signed.signature]);
}

/** Parses the wire form without checking the signature; throws NodeRecordError('invalid'). */
export function decodeSignedNodeRecord(bytes: Uint8Array): SignedNodeRecord {
  if (bytes.length > MAX_SIGNED_NODE_RECORD_BYTES) {
    throw invalid('body', `is ${bytes.length} bytes, more than the ${MAX_SIGNED_NODE_RECORD_BYTES} allowed`);
  }
  let decoded: CborValue;
  try {
    decoded = decodeCbor(bytes, { maxDepth: 1 });
  } catch (err) {
    throw invalid('body', `is not canonical CBOR (${(err as Error).message})`, err);
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) {
    throw invalid('body', 'must be the array [recordBytes, signature]');
  }
  const [recordBytes, signature] = decoded as readonly CborValue[];
  if (!(recordBytes instanceof Uint8Array)) throw invalid('recordBytes', 'must be a byte string');
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) {
    throw invalid('signature', `must be ${SIGNATURE_LENGTH} bytes`);
  }
  return { recordBytes, signature };
}

import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';
import { publicKeyFromPeerId } from './identity.js';
import { SESSION_ID_LENGTH, type SignedVoucher } from './voucher.js';

/**
 * Offload messages (docs/offload.md): a consumer hands windows to a provider over MQTT 3.1.1,
 * which has no response topic or correlation data, so both travel in the payload. Every message
 * is a canonical CBOR array (cbor.ts); numbers are integers, floats exist only as tensor bytes.
 *
 * Request, on `<root>offload/<provider>/req`:
 *
 *   [0] version        uint = 1
 *   [1] correlationId  uint            chosen by the consumer, unique among its requests in flight
 *   [2] sessionId      bstr .size 16   the consumer's session with this provider
 *   [3] consumer       tstr            the consumer's PeerId; replies go to offload/<consumer>/res
 *   [4] modelSha256    bstr .size 32   sha256 of the .onnx bytes
 *   [5] rows           uint ≥ 1        windows in the input
 *   [6] width          uint ≥ 1        values per window
 *   [7] input          bstr            rows × width float32, little-endian, row-major
 *   [8] deadlineMs     uint            Unix epoch ms after which the answer is useless
 *
 * Response, on `<root>offload/<consumer>/res`:
 *
 *   [0] version          uint = 1
 *   [1] correlationId    uint     copied from the request
 *   [2] status           uint     0 ok, 1 no_such_model, 2 overloaded, 3 bad_request,
 *                                 4 inference_failed, 5 expired
 *   [3] receiptSequence  uint     highest receipt sequence of the session after this request
 *   [4] computeUs        uint     microseconds the provider spent in the model
 *   [5] outputs          array of [name tstr, dims [uint…], elementType uint, bytes bstr]
 *   [6] error            tstr     empty when ok
 *
 * Voucher message, on `<root>offload/<provider>/vouchers`: [voucherBytes bstr, signature bstr .size 64].
 *
 * Receipts of offloaded work carry the pipeline id `offload/<sessionId as 32 lower-case hex>`,
 * so they name the session, and their receipt sequence counts the provider's model calls in that
 * session from 1: a voucher's highestReceiptSequence refers to these numbers.
 */
export const OFFLOAD_VERSION = 1;
export const MODEL_SHA256_LENGTH = 32;
const SIGNATURE_LENGTH = 64;
const MAX_VOUCHER_BYTES = 512;

export const OFFLOAD_STATUSES = [
  'ok',
  'no_such_model',
  'overloaded',
  'bad_request',
  'inference_failed',
  'expired',
] as const;
export type OffloadStatus = (typeof OFFLOAD_STATUSES)[number];

/** Output element types; the wire carries the index. */
export const ELEMENT_TYPES = [
  'float32',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
] as const;
export type ElementType = (typeof ELEMENT_TYPES)[number];
const ELEMENT_SIZES: Readonly<Record<ElementType, number>> = {
  float32: 4,
  float64: 8,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  bool: 1,
};

export interface OffloadRequest {
  readonly correlationId: number;
  readonly sessionId: Uint8Array;
  readonly consumer: string;
  readonly modelSha256: Uint8Array;
  readonly rows: number;
  readonly width: number;
  /** rows × width float32 values, little-endian. */
  readonly input: Uint8Array;
  readonly deadlineMs: number;
}

export interface OffloadOutput {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: ElementType;
  /** Elements little-endian. */
  readonly bytes: Uint8Array;
}

export interface OffloadResponse {
  readonly correlationId: number;
  readonly status: OffloadStatus;
  readonly receiptSequence: number;
  readonly computeUs: number;
  readonly outputs: readonly OffloadOutput[];
  readonly error: string;
}

export interface OffloadLimits {
  /** Most windows in one request. Default 1024. */
  readonly maxRows?: number;
  /** Most tensor bytes in one message (input, or all outputs together). Default 8 MiB. */
  readonly maxBytes?: number;
}
const DEFAULT_MAX_ROWS = 1024;
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
const MAX_OUTPUTS = 64;
const MAX_DIMS = 8;
const MAX_TEXT = 1024;

/**
 * A message that is not a valid offload request, response or voucher message. `field` names the
 * first field at fault; `correlationId` and `consumer` are set when they could be read, so a
 * provider can still answer `bad_request`.
 */
export class OffloadMessageError extends FieldmeshError {
  readonly field: string;
  correlationId: number | undefined;
  consumer: string | undefined;

  constructor(what: string, field: string, why: string, cause?: unknown) {
    super('OFFLOAD_MESSAGE_INVALID', `offload ${what}: ${field} ${why}`, { cause });
    this.field = field;
  }
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Reads a fixed-length top-level array; throws naming `body` when the shape is wrong. */
function fieldsOf(what: string, bytes: Uint8Array, count: number, depth: number): readonly CborValue[] {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(bytes, { maxDepth: depth });
  } catch (err) {
    throw new OffloadMessageError(what, 'body', `is not canonical CBOR: ${(err as Error).message}`, err);
  }
  if (!Array.isArray(decoded) || decoded.length !== count) {
    throw new OffloadMessageError(what, 'body', `must be an array of ${count} fields`);
  }
  const fields = decoded as readonly CborValue[];
  if (fields[0] !== OFFLOAD_VERSION) {
    throw new OffloadMessageError(what, 'version', `must be ${OFFLOAD_VERSION}, got ${String(fields[0])}`);
  }
  return fields;
}

export function encodeOffloadRequest(r: OffloadRequest): Uint8Array {
  return encodeCbor([
    OFFLOAD_VERSION,
    r.correlationId,
    r.sessionId,
    r.consumer,
    r.modelSha256,
    r.rows,
    r.width,
    r.input,
    r.deadlineMs,
  ]);
}

/** Strict decode of a request; throws OffloadMessageError naming the field. */
export function decodeOffloadRequest(bytes: Uint8Array, limits: OffloadLimits = {}): OffloadRequest {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes + 256) {
    throw new OffloadMessageError('request', 'body', `is ${bytes.length} bytes, over the ${maxBytes} limit`);
  }
  const f = fieldsOf('request', bytes, 9, 1);
  const [, correlationId, sessionId, consumer, modelSha256, rows, width, input, deadlineMs] = f;
  const fail = (field: string, why: string): never => {
    const err = new OffloadMessageError('request', field, why);
    if (isUint(correlationId)) err.correlationId = correlationId;
    if (typeof consumer === 'string' && peerIdProblem(consumer) === null) err.consumer = consumer;
    throw err;
  };
  if (!isUint(correlationId)) fail('correlationId', 'must be an integer in [0, 2^53 - 1]');
  if (typeof consumer !== 'string') return fail('consumer', 'must be a text string (a PeerId)');
  const problem = peerIdProblem(consumer);
  if (problem !== null) fail('consumer', problem);
  if (!(sessionId instanceof Uint8Array) || sessionId.length !== SESSION_ID_LENGTH) {
    fail('sessionId', `must be ${SESSION_ID_LENGTH} bytes`);
  }
  if (!(modelSha256 instanceof Uint8Array) || modelSha256.length !== MODEL_SHA256_LENGTH) {
    fail('modelSha256', `must be ${MODEL_SHA256_LENGTH} bytes`);
  }
  const maxRows = limits.maxRows ?? DEFAULT_MAX_ROWS;
  if (!isUint(rows) || rows < 1 || rows > maxRows) fail('rows', `must be an integer in [1, ${maxRows}]`);
  if (!isUint(width) || width < 1) fail('width', 'must be a positive integer');
  if (!(input instanceof Uint8Array)) return fail('input', 'must be a byte string');
  if (input.length !== (rows as number) * (width as number) * 4) {
    fail(
      'input',
      `must be rows × width × 4 = ${(rows as number) * (width as number) * 4} bytes, got ${input.length}`,
    );
  }
  if (input.length > maxBytes) fail('input', `is ${input.length} bytes, over the ${maxBytes} limit`);
  if (!isUint(deadlineMs)) fail('deadlineMs', 'must be Unix epoch milliseconds');
  return {
    correlationId: correlationId as number,
    sessionId: sessionId as Uint8Array,
    consumer,
    modelSha256: modelSha256 as Uint8Array,
    rows: rows as number,
    width: width as number,
    input,
    deadlineMs: deadlineMs as number,
  };
}

/** Why `peerId` cannot name a consumer (its reply topic is built from it), or null. */
function peerIdProblem(peerId: string): string | null {
  if (peerId.length === 0 || peerId.length > 128) return 'must be a PeerId of 1 to 128 characters';
  try {
    publicKeyFromPeerId(peerId);
    return null;
  } catch (err) {
    return `is not an Ed25519 PeerId (${(err as Error).message})`;
  }
}

export function encodeOffloadResponse(r: OffloadResponse): Uint8Array {
  const outputs = r.outputs.map((o) => [o.name, [...o.dims], ELEMENT_TYPES.indexOf(o.type), o.bytes]);
  return encodeCbor([
    OFFLOAD_VERSION,
    r.correlationId,
    OFFLOAD_STATUSES.indexOf(r.status),
    r.receiptSequence,
    r.computeUs,
    outputs,
    r.error,
  ]);
}

/** Strict decode of a response; throws OffloadMessageError naming the field. */
export function decodeOffloadResponse(bytes: Uint8Array, limits: OffloadLimits = {}): OffloadResponse {
  const f = fieldsOf('response', bytes, 7, 4);
  const [, correlationId, status, receiptSequence, computeUs, outputs, error] = f;
  const fail = (field: string, why: string): never => {
    const err = new OffloadMessageError('response', field, why);
    if (isUint(correlationId)) err.correlationId = correlationId;
    throw err;
  };
  if (!isUint(correlationId)) fail('correlationId', 'must be an integer in [0, 2^53 - 1]');
  if (!isUint(status) || status >= OFFLOAD_STATUSES.length) {
    fail('status', `must be a status code 0..${OFFLOAD_STATUSES.length - 1}`);
  }
  if (!isUint(receiptSequence)) fail('receiptSequence', 'must be an integer in [0, 2^53 - 1]');
  if (!isUint(computeUs)) fail('computeUs', 'must be an integer in [0, 2^53 - 1]');
  if (typeof error !== 'string' || error.length > MAX_TEXT)
    fail('error', `must be text of ≤ ${MAX_TEXT} characters`);
  if (!Array.isArray(outputs) || outputs.length > MAX_OUTPUTS) {
    fail('outputs', `must be an array of at most ${MAX_OUTPUTS} outputs`);
  }
  let total = 0;
  const decoded = (outputs as readonly CborValue[]).map((o, i) => {
    const out = outputOf(o, (why) => fail(`outputs[${i}]`, why));
    total += out.bytes.length;
    return out;
  });
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (total > maxBytes) fail('outputs', `hold ${total} bytes, over the ${maxBytes} limit`);
  return {
    correlationId: correlationId as number,
    status: OFFLOAD_STATUSES[status as number] as OffloadStatus,
    receiptSequence: receiptSequence as number,
    computeUs: computeUs as number,
    outputs: decoded,
    error: error as string,
  };
}

function outputOf(o: CborValue, fail: (why: string) => never): OffloadOutput {
  if (!Array.isArray(o) || o.length !== 4) return fail('must be [name, dims, elementType, bytes]');
  const [name, dims, type, bytes] = o as readonly CborValue[];
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_TEXT) {
    return fail('name must be non-empty text');
  }
  if (!Array.isArray(dims) || dims.length > MAX_DIMS || !(dims as readonly CborValue[]).every(isUint)) {
    return fail(`dims must be at most ${MAX_DIMS} unsigned integers`);
  }
  if (!isUint(type) || type >= ELEMENT_TYPES.length) return fail('elementType is not a known type code');
  if (!(bytes instanceof Uint8Array)) return fail('bytes must be a byte string');
  const elementType = ELEMENT_TYPES[type] as ElementType;
  const count = (dims as readonly number[]).reduce((a, d) => a * d, 1);
  if (count * ELEMENT_SIZES[elementType] !== bytes.length) {
    return fail(`bytes must be ${count} × ${ELEMENT_SIZES[elementType]} bytes, got ${bytes.length}`);
  }
  return { name, dims: dims as readonly number[], type: elementType, bytes };
}

export function encodeVoucherMessage(signed: SignedVoucher): Uint8Array {
  return encodeCbor([signed.voucherBytes, signed.signature]);
}

/** Unwraps a voucher message; the voucher itself is decoded and verified by protocol/voucher.ts. */
export function decodeVoucherMessage(bytes: Uint8Array): SignedVoucher {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(bytes, { maxDepth: 1 });
  } catch (err) {
    throw new OffloadMessageError(
      'voucher message',
      'body',
      `is not canonical CBOR: ${(err as Error).message}`,
      err,
    );
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) {
    throw new OffloadMessageError('voucher message', 'body', 'must be [voucherBytes, signature]');
  }
  const [voucherBytes, signature] = decoded as readonly CborValue[];
  if (!(voucherBytes instanceof Uint8Array) || voucherBytes.length > MAX_VOUCHER_BYTES) {
    throw new OffloadMessageError('voucher message', 'voucherBytes', `must be ≤ ${MAX_VOUCHER_BYTES} bytes`);
  }
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) {
    throw new OffloadMessageError('voucher message', 'signature', `must be ${SIGNATURE_LENGTH} bytes`);
  }
  return { voucherBytes, signature };
}

/** Element size in bytes of an output type. */
export function elementSize(type: ElementType): number {
  return ELEMENT_SIZES[type];
}

const PIPELINE_PREFIX = 'offload/';
const PIPELINE_ID = /^offload\/[0-9a-f]{32}$/;

/** The pipeline id of a provider's receipts for work done in offload session `sessionId`. */
export function offloadPipelineId(sessionId: Uint8Array): string {
  if (sessionId.length !== SESSION_ID_LENGTH) {
    throw new OffloadMessageError('pipeline id', 'sessionId', `must be ${SESSION_ID_LENGTH} bytes`);
  }
  return PIPELINE_PREFIX + Buffer.from(sessionId).toString('hex');
}

/** The session id inside an offload pipeline id, or null when `pipelineId` is not one. */
export function sessionIdOfPipelineId(pipelineId: string): Uint8Array | null {
  if (!PIPELINE_ID.test(pipelineId)) return null;
  return new Uint8Array(Buffer.from(pipelineId.slice(PIPELINE_PREFIX.length), 'hex'));
}

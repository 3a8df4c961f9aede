import { type CborValue, encodeCbor } from './cbor.js';
import {
  DEFAULT_MAX_BYTES,
  fieldsOf,
  isUint,
  MAX_TEXT,
  OFFLOAD_VERSION,
  type OffloadLimits,
  OffloadMessageError,
} from './offload-message.js';

/** Offload responses (docs/offload.md §3); the layout is in offload.ts's header. */
export const OFFLOAD_STATUSES = [
  'ok',
  'no_such_model',
  'overloaded',
  'bad_request',
  'inference_failed',
  'expired',
  'unknown_session',
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
  'float16',
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
  float16: 2,
};

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

const MAX_OUTPUTS = 64;
const MAX_DIMS = 8;

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

/** Element size in bytes of an output type. */
export function elementSize(type: ElementType): number {
  return ELEMENT_SIZES[type];
}

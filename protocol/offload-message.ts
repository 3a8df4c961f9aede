import { type CborValue, decodeCbor } from './cbor.js';
import { FieldmeshError } from './errors.js';

/** Shared by the offload codecs (offload.ts, offload-response.ts): version, bounds, errors. */
export const OFFLOAD_VERSION = 1;

export interface OffloadLimits {
  /** Most windows in one request. Default 1024. */
  readonly maxRows?: number;
  /** Most tensor bytes in one message (input, or all outputs together). Default 8 MiB. */
  readonly maxBytes?: number;
}
export const DEFAULT_MAX_ROWS = 1024;
export const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;
export const MAX_TEXT = 1024;

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

export function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Reads a fixed-length top-level array; throws naming `body` when the shape is wrong. */
export function fieldsOf(
  what: string,
  bytes: Uint8Array,
  count: number,
  depth: number,
): readonly CborValue[] {
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

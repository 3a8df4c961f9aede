import { type CborValue, decodeCbor, encodeCbor } from './cbor.js';
import { publicKeyFromPeerId } from './identity.js';
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ROWS,
  fieldsOf,
  isUint,
  OFFLOAD_VERSION,
  type OffloadLimits,
  OffloadMessageError,
} from './offload-message.js';
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
 *   [9] opening        uint, 0 or 1    1: this request may open the session (see below)
 *
 * Response, on `<root>offload/<consumer>/res`:
 *
 *   [0] version          uint = 1
 *   [1] correlationId    uint     copied from the request
 *   [2] status           uint     0 ok, 1 no_such_model, 2 overloaded, 3 bad_request,
 *                                 4 inference_failed, 5 expired, 6 unknown_session
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
 *
 * Opening: a provider keeps its sessions and their receipt counts in memory only. A consumer sets
 * `opening` on a session's requests until the session's first `ok` response, and clears it from
 * then on; a provider opens a session it does not know only for a request with `opening`, and
 * answers any other request for it `unknown_session` at once (no model run, no receipt). So a
 * provider that restarted (or forgot the session) never numbers receipts of an old session from
 * 1 a second time, which settlement would take as equivocation; the consumer opens a new session
 * with a fresh id instead.
 */
export { OFFLOAD_VERSION, type OffloadLimits, OffloadMessageError } from './offload-message.js';
export * from './offload-response.js';
export const MODEL_SHA256_LENGTH = 32;
const SIGNATURE_LENGTH = 64;
const MAX_VOUCHER_BYTES = 512;

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
  /** The request may open the session: set until the session's first ok response. */
  readonly opening: boolean;
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
    r.opening ? 1 : 0,
  ]);
}

/** Strict decode of a request; throws OffloadMessageError naming the field. */
export function decodeOffloadRequest(bytes: Uint8Array, limits: OffloadLimits = {}): OffloadRequest {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.length > maxBytes + 256) {
    throw new OffloadMessageError('request', 'body', `is ${bytes.length} bytes, over the ${maxBytes} limit`);
  }
  const f = fieldsOf('request', bytes, 10, 1);
  const [, correlationId, sessionId, consumer, modelSha256, rows, width, input, deadlineMs, opening] = f;
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
  if (opening !== 0 && opening !== 1) fail('opening', 'must be 0 or 1');
  return {
    correlationId: correlationId as number,
    sessionId: sessionId as Uint8Array,
    consumer,
    modelSha256: modelSha256 as Uint8Array,
    rows: rows as number,
    width: width as number,
    input,
    deadlineMs: deadlineMs as number,
    opening: opening === 1,
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

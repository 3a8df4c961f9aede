import { encodeReceipt, RECEIPT_VERSION, type Receipt } from '../../protocol/receipt.js';
import { encodeReveal, MAX_TENSOR_BYTES } from '../../protocol/reveal.js';

/**
 * encodeReceipt (protocol/receipt.ts) for the inference hot path: the same canonical CBOR
 * bytes, written straight into one buffer instead of through the generic CBOR writer, which
 * costs several times more per receipt. A receipt the fast path cannot vouch for goes to
 * encodeReceipt, which refuses it with every problem named. Tests keep both byte-identical.
 */
const KEY = 32;
const MAX_PIPELINE_ID = 128;
const ARRAY_11 = 0x8b;
const BSTR_32 = [0x58, 0x20] as const;
const utf8 = new TextEncoder();
// A lone surrogate has no UTF-8 encoding; encodeReceipt says so.
const LONE_SURROGATE = /\p{Cs}/u;
const pipelineIds = new Map<string, Uint8Array | null>();
const MAX_CACHED_IDS = 1_024;

export function writeReceipt(r: Receipt): Uint8Array {
  return r.version === RECEIPT_VERSION ? writeJobReceipt(r, r.providerKey, r.sequence) : encodeReceipt(r);
}

/**
 * writeReceipt of `fields` (a ReceiptJob will do: its other properties are not read) with this
 * node's key and the sequence, without first spreading them into a new Receipt object.
 */
export function writeJobReceipt(
  r: Omit<Receipt, 'version' | 'providerKey' | 'sequence'>,
  providerKey: Uint8Array,
  sequence: number,
): Uint8Array {
  const pid = pipelineIdBytes(r.pipelineId);
  if (
    pid === null ||
    !isUint(sequence) ||
    !isUint(r.startTimeMs) ||
    !isUint(r.computeTimeUs) ||
    !isUint(r.sampleCount) ||
    r.sampleCount < 1 ||
    !is32(providerKey) ||
    !is32(r.consumerKey) ||
    !is32(r.modelSha256) ||
    !is32(r.inputDigest) ||
    !is32(r.outputDigest)
  ) {
    return encodeReceipt({
      version: RECEIPT_VERSION,
      providerKey,
      consumerKey: r.consumerKey,
      pipelineId: r.pipelineId,
      sequence,
      modelSha256: r.modelSha256,
      inputDigest: r.inputDigest,
      outputDigest: r.outputDigest,
      startTimeMs: r.startTimeMs,
      computeTimeUs: r.computeTimeUs,
      sampleCount: r.sampleCount,
    });
  }
  const size =
    1 +
    uintSize(RECEIPT_VERSION) +
    2 * (2 + KEY) +
    uintSize(pid.length) +
    pid.length +
    uintSize(sequence) +
    3 * (2 + KEY) +
    uintSize(r.startTimeMs) +
    uintSize(r.computeTimeUs) +
    uintSize(r.sampleCount);
  const out = pooled(size);
  let at = 0;
  out[at++] = ARRAY_11;
  at = writeHead(out, at, 0, RECEIPT_VERSION);
  at = writeKey(out, at, providerKey);
  at = writeKey(out, at, r.consumerKey);
  at = writeHead(out, at, 3, pid.length);
  out.set(pid, at);
  at += pid.length;
  at = writeHead(out, at, 0, sequence);
  at = writeKey(out, at, r.modelSha256);
  at = writeKey(out, at, r.inputDigest);
  at = writeKey(out, at, r.outputDigest);
  at = writeHead(out, at, 0, r.startTimeMs);
  at = writeHead(out, at, 0, r.computeTimeUs);
  writeHead(out, at, 0, r.sampleCount);
  return out;
}

const ARRAY_3 = 0x83;

/**
 * encodeReveal (protocol/reveal.ts) for the inference hot path, where tensor retention keeps
 * every job's tensors: the same canonical CBOR `[id, input, output]`, written with one copy of
 * each tensor. What it cannot vouch for goes to encodeReveal, which throws naming the problem.
 */
export function writeReveal(receiptId: Uint8Array, input: Uint8Array, output: Uint8Array): Uint8Array {
  if (
    !is32(receiptId) ||
    !(input instanceof Uint8Array) ||
    !(output instanceof Uint8Array) ||
    input.length > MAX_TENSOR_BYTES ||
    output.length > MAX_TENSOR_BYTES
  ) {
    return encodeReveal({ receiptId, input, output });
  }
  const size = 1 + 2 + KEY + uintSize(input.length) + input.length + uintSize(output.length) + output.length;
  const out = pooled(size);
  out[0] = ARRAY_3;
  let at = writeKey(out, 1, receiptId);
  at = writeHead(out, at, 2, input.length);
  out.set(input, at);
  at = writeHead(out, at + input.length, 2, output.length);
  out.set(output, at);
  return out;
}

const isUint = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const is32 = (b: unknown): boolean => b instanceof Uint8Array && b.length === KEY;

function pipelineIdBytes(id: string): Uint8Array | null {
  let bytes = pipelineIds.get(id);
  if (bytes !== undefined) return bytes;
  const encoded = typeof id === 'string' && !LONE_SURROGATE.test(id) ? utf8.encode(id) : undefined;
  bytes = encoded !== undefined && encoded.length >= 1 && encoded.length <= MAX_PIPELINE_ID ? encoded : null;
  if (pipelineIds.size < MAX_CACHED_IDS) pipelineIds.set(id, bytes);
  return bytes;
}

/** Bytes of the shortest head for `n` (RFC 8949 §4.2.1). */
function uintSize(n: number): number {
  if (n < 24) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  if (n < 0x1_0000_0000) return 5;
  return 9;
}

function writeHead(out: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) {
    out[at] = m | n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = m | 24;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = m | 25;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  // Byte by byte rather than through a DataView, which would be one more object per receipt.
  if (n < 0x1_0000_0000) {
    out[at] = m | 26;
    writeUint32(out, at + 1, n);
    return at + 5;
  }
  out[at] = m | 27;
  writeUint32(out, at + 1, Math.floor(n / 0x1_0000_0000));
  writeUint32(out, at + 5, n >>> 0);
  return at + 9;
}

function writeUint32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

/**
 * `size` bytes for the caller to fill completely: small ones come from Buffer's pool instead
 * of a fresh ArrayBuffer each (which V8 allocates outside its heap past 64 bytes), handed out as
 * a plain Uint8Array so that slice() still copies.
 */
function pooled(size: number): Uint8Array {
  const b = Buffer.allocUnsafe(size);
  return new Uint8Array(b.buffer, b.byteOffset, size);
}

function writeKey(out: Uint8Array, at: number, bytes: Uint8Array): number {
  out[at] = BSTR_32[0];
  out[at + 1] = BSTR_32[1];
  out.set(bytes, at + 2);
  return at + 2 + KEY;
}

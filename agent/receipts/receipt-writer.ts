import { encodeReceipt, type Receipt } from '../../protocol/receipt.js';

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
  const pid = pipelineIdBytes(r.pipelineId);
  if (
    pid === null ||
    r.version !== 1 ||
    !isUint(r.sequence) ||
    !isUint(r.startTimeMs) ||
    !isUint(r.computeTimeUs) ||
    !isUint(r.sampleCount) ||
    r.sampleCount < 1 ||
    !is32(r.providerKey) ||
    !is32(r.consumerKey) ||
    !is32(r.modelSha256) ||
    !is32(r.inputDigest) ||
    !is32(r.outputDigest)
  ) {
    return encodeReceipt(r);
  }
  const size =
    1 +
    uintSize(r.version) +
    2 * (2 + KEY) +
    uintSize(pid.length) +
    pid.length +
    uintSize(r.sequence) +
    3 * (2 + KEY) +
    uintSize(r.startTimeMs) +
    uintSize(r.computeTimeUs) +
    uintSize(r.sampleCount);
  const out = new Uint8Array(size);
  let at = 0;
  out[at++] = ARRAY_11;
  at = writeHead(out, at, 0, r.version);
  at = writeKey(out, at, r.providerKey);
  at = writeKey(out, at, r.consumerKey);
  at = writeHead(out, at, 3, pid.length);
  out.set(pid, at);
  at += pid.length;
  at = writeHead(out, at, 0, r.sequence);
  at = writeKey(out, at, r.modelSha256);
  at = writeKey(out, at, r.inputDigest);
  at = writeKey(out, at, r.outputDigest);
  at = writeHead(out, at, 0, r.startTimeMs);
  at = writeHead(out, at, 0, r.computeTimeUs);
  writeHead(out, at, 0, r.sampleCount);
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
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (n < 0x1_0000_0000) {
    out[at] = m | 26;
    view.setUint32(at + 1, n);
    return at + 5;
  }
  out[at] = m | 27;
  view.setUint32(at + 1, Math.floor(n / 0x1_0000_0000));
  view.setUint32(at + 5, n >>> 0);
  return at + 9;
}

function writeKey(out: Uint8Array, at: number, bytes: Uint8Array): number {
  out[at] = BSTR_32[0];
  out[at + 1] = BSTR_32[1];
  out.set(bytes, at + 2);
  return at + 2 + KEY;
}

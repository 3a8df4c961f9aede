import { FieldmeshError } from './errors.js';

/**
 * The canonical CBOR subset every signed fieldmesh structure is written in: unsigned and
 * negative integers, byte strings, text strings and arrays (RFC 8949 §3.1 major types 0–4),
 * always with the shortest head (RFC 8949 §4.1 "preferred serialization", which for this
 * subset is also §4.2.1 deterministic encoding). Maps, floats, simple values, tags and
 * indefinite lengths are refused, so one value has exactly one encoding and a verifier can
 * compare bytes. Signers sign the exact bytes and carry them; nobody re-encodes to verify.
 *
 * Integers decode to `number` when they are safe integers (|v| ≤ 2^53 − 1) and to `bigint`
 * otherwise; both encode the same way, so `encode(decode(bytes))` reproduces `bytes`.
 */
export type CborValue = number | bigint | Uint8Array | string | readonly CborValue[];

/**
 * Codes: `CBOR_MALFORMED` — not well-formed CBOR (truncated, trailing bytes, reserved
 * additional info, invalid UTF-8, nesting too deep); `CBOR_NONCANONICAL` — well-formed but
 * outside the canonical subset (non-shortest head, map, float, simple value, tag, indefinite
 * length); `CBOR_UNENCODABLE` — a JS value that has no encoding in the subset.
 */
export type CborErrorCode = 'CBOR_MALFORMED' | 'CBOR_NONCANONICAL' | 'CBOR_UNENCODABLE';

export class CborError extends FieldmeshError {
  /** Byte offset of the offending data item head (decode), or -1 (encode). */
  readonly offset: number;

  constructor(code: CborErrorCode, offset: number, message: string, options?: { cause?: unknown }) {
    super(code, offset >= 0 ? `CBOR at byte ${offset}: ${message}` : `CBOR encode: ${message}`, options);
    this.offset = offset;
  }
}

export interface CborOptions {
  /** Deepest array nesting accepted; the top-level item is depth 0. Default 16. */
  readonly maxDepth?: number;
}

const DEFAULT_MAX_DEPTH = 16;
const MAX_U64 = 0xffff_ffff_ffff_ffffn;
const MAJOR_UNSIGNED = 0;
const MAJOR_NEGATIVE = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
// A lone surrogate has no UTF-8 encoding (RFC 3629 §3); TextEncoder would silently write U+FFFD.
const LONE_SURROGATE = /\p{Cs}/u;

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error (RFC 8949 §3.1 major type 3, §5.3.1); ignoreBOM keeps a
// leading U+FEFF as content instead of silently dropping it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The head of a data item, shortest form (RFC 8949 §3 and §4.2.1). */
  head(major: number, argument: number | bigint): void {
    const mt = major << 5;
    const arg = typeof argument === 'bigint' ? argument : BigInt(argument);
    if (arg < 24n) this.push(Uint8Array.of(mt | Number(arg)));
    else if (arg <= 0xffn) this.push(Uint8Array.of(mt | 24, Number(arg)));
    else if (arg <= 0xffffn) {
      const out = new Uint8Array(3);
      out[0] = mt | 25;
      new DataView(out.buffer).setUint16(1, Number(arg));
      this.push(out);
    } else if (arg <= 0xffff_ffffn) {
      const out = new Uint8Array(5);
      out[0] = mt | 26;
      new DataView(out.buffer).setUint32(1, Number(arg));
      this.push(out);
    } else {
      const out = new Uint8Array(9);
      out[0] = mt | 27;
      new DataView(out.buffer).setBigUint64(1, arg);
      this.push(out);
    }
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

function encodeInteger(w: Writer, value: bigint): void {
  // RFC 8949 §3.1: major type 0 carries n, major type 1 carries −1 − n.
  if (value >= 0n && value <= MAX_U64) w.head(MAJOR_UNSIGNED, value);
  else if (value < 0n && value >= -MAX_U64 - 1n) w.head(MAJOR_NEGATIVE, -1n - value);
  else throw new CborError('CBOR_UNENCODABLE', -1, `integer ${value} is outside [-2^64, 2^64 - 1]`);
}

function encodeItem(w: Writer, value: CborValue, depth: number, maxDepth: number): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new CborError(
        'CBOR_UNENCODABLE',
        -1,
        `${value} is not a safe integer; floats are not allowed, use a bigint beyond 2^53 - 1`,
      );
    }
    encodeInteger(w, BigInt(value));
  } else if (typeof value === 'bigint') {
    encodeInteger(w, value);
  } else if (value instanceof Uint8Array) {
    w.head(MAJOR_BYTES, value.length);
    w.push(value.slice());
  } else if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) {
      throw new CborError('CBOR_UNENCODABLE', -1, 'text contains a lone surrogate, which has no UTF-8 form');
    }
    const bytes = utf8Encoder.encode(value);
    w.head(MAJOR_TEXT, bytes.length);
    w.push(bytes);
  } else if (Array.isArray(value)) {
    if (depth >= maxDepth) {
      throw new CborError('CBOR_UNENCODABLE', -1, `arrays nested deeper than ${maxDepth}`);
    }
    w.head(MAJOR_ARRAY, value.length);
    for (const item of value as readonly CborValue[]) encodeItem(w, item, depth + 1, maxDepth);
  } else {
    throw new CborError('CBOR_UNENCODABLE', -1, `a ${typeof value} has no encoding in the canonical subset`);
  }
}

/** Encodes `value` canonically; throws CborError('CBOR_UNENCODABLE') on anything outside the subset. */
export function encodeCbor(value: CborValue, options: CborOptions = {}): Uint8Array {
  const w = new Writer();
  encodeItem(w, value, 0, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  pos = 0;
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  need(n: number, start: number, what: string): void {
    if (n > this.remaining) {
      throw new CborError(
        'CBOR_MALFORMED',
        start,
        `truncated: ${what} needs ${n} more byte(s), ${this.remaining} left`,
      );
    }
  }

  /**
   * Reads one head (RFC 8949 §3) and enforces the shortest form (§4.2.1): an argument below
   * 24 must sit in the initial byte, and a 1/2/4/8-byte argument must not fit a shorter one.
   */
  head(): { major: number; arg: number | bigint; start: number } {
    const start = this.pos;
    this.need(1, start, 'a data item');
    const initial = this.bytes[this.pos++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 5) throw new CborError('CBOR_NONCANONICAL', start, 'maps are not allowed; use an array');
    if (major === 6) throw new CborError('CBOR_NONCANONICAL', start, 'tags are not allowed');
    if (major === 7) {
      const what = info >= 25 && info <= 27 ? 'floats are' : 'simple values (false, true, null, …) are';
      throw new CborError('CBOR_NONCANONICAL', start, `${what} not allowed`);
    }
    if (info < 24) return { major, arg: info, start };
    if (info === 31) {
      // §3.2.1: ai 31 on major types 0 and 1 is malformed; on 2–4 it is an indefinite length.
      if (major <= MAJOR_NEGATIVE)
        throw new CborError('CBOR_MALFORMED', start, 'integer with additional info 31');
      throw new CborError('CBOR_NONCANONICAL', start, 'indefinite lengths are not allowed');
    }
    if (info > 27) throw new CborError('CBOR_MALFORMED', start, `reserved additional info ${info} (§3)`);
    const size = 1 << (info - 24);
    this.need(size, start, `a ${size}-byte argument`);
    let arg: number | bigint;
    let minimum: number | bigint;
    if (size === 1) [arg, minimum] = [this.view.getUint8(this.pos), 24];
    else if (size === 2) [arg, minimum] = [this.view.getUint16(this.pos), 0x100];
    else if (size === 4) [arg, minimum] = [this.view.getUint32(this.pos), 0x1_0000];
    else [arg, minimum] = [this.view.getBigUint64(this.pos), 0x1_0000_0000n];
    this.pos += size;
    if (arg < minimum) {
      throw new CborError('CBOR_NONCANONICAL', start, `argument ${arg} is not in its shortest form (§4.2.1)`);
    }
    if (typeof arg === 'bigint' && arg <= BigInt(Number.MAX_SAFE_INTEGER)) arg = Number(arg);
    return { major, arg, start };
  }
}

function decodeItem(r: Reader, depth: number, maxDepth: number): CborValue {
  const { major, arg, start } = r.head();
  if (major === MAJOR_UNSIGNED) return arg;
  if (major === MAJOR_NEGATIVE) {
    // −1 − arg stays a safe integer only while arg ≤ 2^53 − 2.
    if (typeof arg === 'number' && arg < Number.MAX_SAFE_INTEGER) return -1 - arg;
    const value = -1n - BigInt(arg);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
  }
  // Every remaining length counts bytes or items, each item at least one byte.
  if (typeof arg === 'bigint' || arg > r.remaining) {
    throw new CborError(
      'CBOR_MALFORMED',
      start,
      `truncated: length ${arg} exceeds the ${r.remaining} byte(s) left`,
    );
  }
  if (major === MAJOR_BYTES) {
    const out = r.bytes.slice(r.pos, r.pos + arg);
    r.pos += arg;
    return out;
  }
  if (major === MAJOR_TEXT) {
    const raw = r.bytes.subarray(r.pos, r.pos + arg);
    r.pos += arg;
    try {
      return utf8Decoder.decode(raw);
    } catch (err) {
      throw new CborError('CBOR_MALFORMED', start, 'text string is not valid UTF-8 (§3.1)', { cause: err });
    }
  }
  // MAJOR_ARRAY
  if (depth >= maxDepth) {
    throw new CborError('CBOR_MALFORMED', start, `arrays nested deeper than the limit of ${maxDepth}`);
  }
  const items: CborValue[] = [];
  for (let i = 0; i < arg; i++) items.push(decodeItem(r, depth + 1, maxDepth));
  return items;
}

/**
 * Decodes exactly one canonical data item filling all of `bytes`. Throws CborError, naming
 * the byte offset, on anything malformed, non-canonical or outside the subset.
 */
export function decodeCbor(bytes: Uint8Array, options: CborOptions = {}): CborValue {
  const r = new Reader(bytes);
  const value = decodeItem(r, 0, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (r.remaining > 0) {
    throw new CborError('CBOR_MALFORMED', r.pos, `${r.remaining} trailing byte(s) after the data item`);
  }
  return value;
}

/**
 * Turning decoded JSON/CBOR values into samples, and describing what was found when they are
 * not samples. The describe* helpers run only on the rejection path.
 */

export type ScalarProblem = 'not_a_number' | 'non_finite';

/** Decimal number text as JSON writes it, plus a leading '+' and a bare '.5' / '5.' that sensors send. */
const DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const NON_FINITE_WORD = /^[+-]?(?:nan|inf|infinity)$/i;

/**
 * The number in a text, or why there is none. Only decimal notation counts: `Number()` alone
 * would read '' as 0 and accept '0x1f', '0b11' and '1_0' spellings no sensor means as numbers.
 */
export function parseNumberText(text: string): number | ScalarProblem {
  const t = text.trim();
  if (DECIMAL.test(t)) {
    const n = Number(t);
    return Number.isFinite(n) ? n : 'non_finite'; // '1e999' overflows to Infinity
  }
  return NON_FINITE_WORD.test(t) ? 'non_finite' : 'not_a_number';
}

/**
 * One sample from one decoded value: a finite number, a bigint (CBOR integers past 2^53, read
 * to the nearest double), or numeric text ("23.5": many gateways quote every value).
 */
export function toSample(value: unknown): number | ScalarProblem {
  if (typeof value === 'number') return Number.isFinite(value) ? value : 'non_finite';
  if (typeof value === 'string') return parseNumberText(value);
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isFinite(n) ? n : 'non_finite';
  }
  return 'not_a_number';
}

/** A list of samples: a JS array or a numeric typed array (CBOR RFC 8746), not a byte string. */
export function isSampleList(value: unknown): value is ArrayLike<unknown> {
  if (Array.isArray(value)) return true;
  if (!ArrayBuffer.isView(value) || value instanceof DataView) return false;
  // A CBOR byte string decodes to a Uint8Array (a Buffer in Node): bytes, not readings.
  return !(value instanceof Uint8Array);
}

const EXCERPT_TEXT_CHARS = 32;

/** What a decoded value is, for a rejection detail: short, one line, safe to log. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return `a boolean (${value})`;
    case 'number':
    case 'bigint':
      return String(value);
    case 'string': {
      const cut = value.length > EXCERPT_TEXT_CHARS ? `${value.slice(0, EXCERPT_TEXT_CHARS)}…` : value;
      return `the text ${JSON.stringify(cut)}`; // escapes control characters and quotes
    }
    case 'object':
      return describeObject(value);
    default:
      return `a ${typeof value}`;
  }
}

function describeObject(value: object): string {
  if (Array.isArray(value)) return value.length === 0 ? 'an empty array' : `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `a byte string of ${value.length} byte(s)`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (value instanceof Date)
    return `a date (${Number.isFinite(value.getTime()) ? value.toISOString() : 'invalid'})`;
  if (value instanceof Map) return `a map of ${value.size}`;
  return 'an object';
}

const EXCERPT_BYTES = 40;

/**
 * The first bytes of a payload as a quoted, escaped, one-line excerpt with the total size:
 * printable ASCII as is, everything else as \xNN, so garbage or binary cannot break a log line
 * or a terminal.
 */
export function payloadExcerpt(payload: Uint8Array, maxBytes: number = EXCERPT_BYTES): string {
  const n = Math.min(payload.length, maxBytes);
  let out = '"';
  for (let i = 0; i < n; i++) {
    const b = payload[i] as number;
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  out += n < payload.length ? '"…' : '"';
  return `${out} (${payload.length} byte${payload.length === 1 ? '' : 's'})`;
}

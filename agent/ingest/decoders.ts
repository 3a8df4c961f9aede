import { decode as decodeCbor } from 'cbor-x';
import { DecoderSpecError } from './errors.js';
import { describeMissing, type FieldPath, lookupField, MISSING, parseFieldPath } from './field-path.js';
import type { RejectReason } from './reject-reasons.js';
import { toTimestampMs } from './timestamp.js';
import { describeValue, isSampleList, parseNumberText, payloadExcerpt, toSample } from './values.js';

/**
 * Payload decoders: bytes of one MQTT message in, samples (plus optional timestamp and sensor
 * id) out, or a reject reason with a detail saying what was found where. Rules:
 *
 * - `json` and `cbor`: `field` selects the value (absent: the whole payload). It may hold a
 *   number or an array of numbers. Numeric text such as "23.5" counts as a number (many
 *   gateways quote every value); only decimal notation, never hex or ''.
 * - `number`: the UTF-8 text of one number, whitespace trimmed; a JSON-quoted "23.5" is read too.
 * - NaN and ±Infinity, as text ("NaN", "-Infinity", "inf", "1e999") or as CBOR floats, are
 *   `non_finite`; booleans, null, objects, byte strings and nested arrays are `not_a_number`.
 * - `length`, when set, is the exact number of samples; an empty array is always `wrong_length`.
 * - Timestamps: see toTimestampMs (seconds below 1e11, else milliseconds; ISO-8601 with a zone).
 * - A sensor id field holds text or an integer; anything else is `missing_field`.
 */

export const PAYLOAD_FORMATS = ['json', 'number', 'cbor'] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

export interface DecoderSpec {
  readonly format: PayloadFormat;
  /** Path of the samples, e.g. `data.accel[2]` or `data.accel.2`; absent = the whole payload. */
  readonly field?: string;
  /** Path of the reading's timestamp; absent = the caller uses the arrival time. */
  readonly timestampField?: string;
  /** Path of the sensor id, for `input.sensor = { from: 'field' }`. */
  readonly sensorField?: string;
  /** Exact number of samples per payload, when the sensor always sends the same count. */
  readonly length?: number;
  /** Larger payloads are rejected unread. */
  readonly maxBytes: number;
}

export interface DecodeOk {
  readonly ok: true;
  /** One or more finite samples, in payload order. A fresh array the caller may keep. */
  readonly values: number[];
  /** Milliseconds since the epoch, when the spec has a timestampField. */
  readonly ts: number | undefined;
  /** When the spec has a sensorField. */
  readonly sensor: string | undefined;
}

export interface DecodeRejected {
  readonly ok: false;
  readonly reason: RejectReason;
  /** What was found and where (the field path); one line, safe to log and publish. */
  readonly detail: string;
}

export type DecodeResult = DecodeOk | DecodeRejected;
export type PayloadDecoder = (payload: Uint8Array) => DecodeResult;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function reject(reason: RejectReason, detail: string): DecodeRejected {
  return { ok: false, reason, detail };
}

/** Checks `spec` once and returns the decoder; throws DecoderSpecError (DECODER_SPEC_INVALID). */
export function compileDecoder(spec: DecoderSpec): PayloadDecoder {
  checkSpec(spec);
  const { maxBytes, length } = spec;
  if (spec.format === 'number') return (payload) => decodeNumberText(payload, maxBytes, length);
  const parse = spec.format === 'json' ? parseJson : decodeCbor;
  const field = compilePath(spec, 'field');
  const tsField = compilePath(spec, 'timestampField');
  const sensorField = compilePath(spec, 'sensorField');
  const formatName = spec.format === 'json' ? 'JSON' : 'CBOR';
  const where = field === undefined ? 'the payload' : `field "${field.text}"`;

  return (payload) => {
    if (payload.length > maxBytes) return tooLarge(payload, maxBytes);
    let doc: unknown;
    try {
      doc = parse(payload);
    } catch {
      return reject('malformed_payload', `payload is not valid ${formatName}: ${payloadExcerpt(payload)}`);
    }
    const raw = field === undefined ? doc : lookupField(doc, field);
    if (raw === MISSING) return reject('missing_field', describeMissing(doc, field as FieldPath));
    const values = toSamples(raw, where);
    if (!Array.isArray(values)) return values;
    if (length !== undefined && values.length !== length) return wrongLength(values.length, length, where);
    let ts: number | undefined;
    if (tsField !== undefined) {
      const found = readTimestamp(doc, tsField);
      if (typeof found !== 'number') return found;
      ts = found;
    }
    let sensor: string | undefined;
    if (sensorField !== undefined) {
      const found = readSensor(doc, sensorField);
      if (typeof found !== 'string') return found;
      sensor = found;
    }
    return { ok: true, values, ts, sensor };
  };
}

function parseJson(payload: Uint8Array): unknown {
  return JSON.parse(utf8.decode(payload));
}

function checkSpec(spec: DecoderSpec): void {
  if (!(PAYLOAD_FORMATS as readonly string[]).includes(spec.format)) {
    throw new DecoderSpecError(
      'format',
      `is ${JSON.stringify(spec.format)}; expected one of ${PAYLOAD_FORMATS.join(', ')}`,
    );
  }
  if (!Number.isSafeInteger(spec.maxBytes) || spec.maxBytes < 1) {
    throw new DecoderSpecError('maxBytes', `is ${spec.maxBytes}; expected a whole number of bytes ≥ 1`);
  }
  if (spec.length !== undefined && (!Number.isSafeInteger(spec.length) || spec.length < 1)) {
    throw new DecoderSpecError(
      'length',
      `is ${spec.length}; expected a whole number of samples ≥ 1, or no length`,
    );
  }
  if (spec.format !== 'number') return;
  for (const property of ['field', 'timestampField', 'sensorField'] as const) {
    if (spec[property] !== undefined) {
      throw new DecoderSpecError(
        property,
        'is set, but a "number" payload has no fields; use format json or cbor',
      );
    }
  }
}

function compilePath(
  spec: DecoderSpec,
  property: 'field' | 'timestampField' | 'sensorField',
): FieldPath | undefined {
  const text = spec[property];
  if (text === undefined) return undefined;
  const path = parseFieldPath(text);
  if (typeof path === 'string') {
    throw new DecoderSpecError(
      property,
      `${JSON.stringify(text)} ${path}; write paths like data.accel[2] or data.accel.2`,
    );
  }
  return path;
}

/**
 * The samples in `raw`. A JSON array of plain finite numbers is returned as it is (no copy: it
 * is fresh from the parser); anything else is converted into a new array.
 */
function toSamples(raw: unknown, where: string): number[] | DecodeRejected {
  if (typeof raw === 'number' && Number.isFinite(raw)) return [raw];
  if (!isSampleList(raw)) {
    const one = toSample(raw);
    if (typeof one === 'number') return [one];
    return notSample(one, raw, where);
  }
  const n = raw.length;
  if (n === 0) return reject('wrong_length', `${where} holds an empty array; expected at least one sample`);
  let plain = Array.isArray(raw);
  for (let i = 0; plain && i < n; i++) {
    const v = raw[i];
    plain = typeof v === 'number' && Number.isFinite(v);
  }
  if (plain) return raw as number[];
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const v = toSample(raw[i]);
    if (typeof v !== 'number') return notSample(v, raw[i], `element ${i} of ${where}`);
    out[i] = v;
  }
  return out;
}

function notSample(problem: 'not_a_number' | 'non_finite', value: unknown, where: string): DecodeRejected {
  return problem === 'non_finite'
    ? reject('non_finite', `${where} holds ${describeValue(value)}, which is not a finite number`)
    : reject(
        'not_a_number',
        `${where} holds ${describeValue(value)}; expected a number or an array of numbers`,
      );
}

function wrongLength(found: number, expected: number, where: string): DecodeRejected {
  return reject('wrong_length', `${where} holds ${found} sample(s); expected ${expected} (input.length)`);
}

function tooLarge(payload: Uint8Array, maxBytes: number): DecodeRejected {
  return reject(
    'payload_too_large',
    `payload is ${payload.length} bytes; the limit (maxBytes) is ${maxBytes}`,
  );
}

function readTimestamp(doc: unknown, path: FieldPath): number | DecodeRejected {
  const raw = lookupField(doc, path);
  if (raw === MISSING) return reject('missing_field', `timestamp ${describeMissing(doc, path)}`);
  const ts = toTimestampMs(raw);
  if (typeof ts === 'number') return ts;
  const found = `timestamp field "${path.text}" holds ${describeValue(raw)}`;
  return ts === 'non_finite'
    ? reject('non_finite', `${found}, which is not a finite time`)
    : reject(
        'not_a_number',
        `${found}; expected seconds or milliseconds since the epoch, or ISO-8601 with a zone`,
      );
}

function readSensor(doc: unknown, path: FieldPath): string | DecodeRejected {
  const raw = lookupField(doc, path);
  if (raw === MISSING) return reject('missing_field', `sensor id ${describeMissing(doc, path)}`);
  if (typeof raw === 'string' && raw.length > 0) return raw;
  if ((typeof raw === 'number' && Number.isSafeInteger(raw)) || typeof raw === 'bigint') return String(raw);
  return reject(
    'missing_field',
    `sensor id field "${path.text}" holds ${describeValue(raw)}; expected text or an integer`,
  );
}

function decodeNumberText(payload: Uint8Array, maxBytes: number, length: number | undefined): DecodeResult {
  if (payload.length > maxBytes) return tooLarge(payload, maxBytes);
  let text: string;
  try {
    text = utf8.decode(payload).trim();
  } catch {
    return reject('malformed_payload', `payload is not UTF-8 text: ${payloadExcerpt(payload)}`);
  }
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
  const n = parseNumberText(text);
  if (typeof n === 'number') {
    return length === undefined || length === 1
      ? { ok: true, values: [n], ts: undefined, sensor: undefined }
      : wrongLength(1, length, 'the payload');
  }
  if (n === 'non_finite')
    return reject('non_finite', `payload is ${payloadExcerpt(payload)}, which is not a finite number`);
  if (text === 'true' || text === 'false' || text === 'null') {
    return reject('not_a_number', `payload is ${payloadExcerpt(payload)}; expected the text of one number`);
  }
  return reject('malformed_payload', `payload is not the text of one number: ${payloadExcerpt(payload)}`);
}

import { encode } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { compileDecoder, type DecodeResult, type DecoderSpec } from '../../../agent/ingest/decoders.js';

const T = Date.UTC(2024, 0, 15, 10, 30, 0);

function rejected(result: DecodeResult): { reason: string; detail: string } {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  return { reason: result.reason, detail: result.detail };
}

function cbor(spec: Omit<DecoderSpec, 'format' | 'maxBytes'> & { maxBytes?: number } = {}) {
  return compileDecoder({ format: 'cbor', maxBytes: 65_536, ...spec });
}

/** A CBOR map {"v": <half float given as two bytes>}. */
function halfFloatPayload(hi: number, lo: number): Uint8Array {
  return Uint8Array.from([0xa1, 0x61, 0x76, 0xf9, hi, lo]);
}

describe('cbor decoder', () => {
  it('reads numbers, arrays and fields like the JSON decoder', () => {
    expect(cbor()(encode(23.5))).toEqual({ ok: true, values: [23.5], ts: undefined, sensor: undefined });
    expect(cbor({ field: 'data.accel' })(encode({ data: { accel: [0.5, -1, 9.75] } }))).toMatchObject({
      values: [0.5, -1, 9.75],
    });
    expect(cbor({ field: 'data.accel[1]' })(encode({ data: { accel: [0.5, -1, 9.75] } }))).toMatchObject({
      values: [-1],
    });
    expect(cbor({ field: 't' })(encode({ t: '23.5' }))).toMatchObject({ ok: true, values: [23.5] });
  });

  it('reads CBOR typed arrays (RFC 8746) as sample lists', () => {
    const payload = encode({ v: new Float32Array([1.5, 2.5, -3]) });
    expect(cbor({ field: 'v' })(payload)).toMatchObject({ ok: true, values: [1.5, 2.5, -3] });
    expect(cbor({ field: 'v' })(encode({ v: new Int16Array([1, -2]) }))).toMatchObject({ values: [1, -2] });
  });

  it('rejects a non-finite element of a typed array', () => {
    const r = rejected(cbor({ field: 'v' })(encode({ v: new Float64Array([1, Number.NaN]) })));
    expect(r).toEqual({
      reason: 'non_finite',
      detail: 'element 1 of field "v" holds NaN, which is not a finite number',
    });
  });

  it('reads 64-bit integers', () => {
    const payload = Uint8Array.from([0xa1, 0x61, 0x76, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0]); // {"v": 2^32}
    expect(cbor({ field: 'v' })(payload)).toMatchObject({ ok: true, values: [2 ** 32] });
  });

  it.each<[string, number, number, string]>([
    ['NaN', 0x7e, 0x00, 'NaN'],
    ['+Infinity', 0x7c, 0x00, 'Infinity'],
    ['-Infinity', 0xfc, 0x00, '-Infinity'],
  ])('rejects a CBOR %s float as non_finite', (_name, hi, lo, shown) => {
    expect(rejected(cbor({ field: 'v' })(halfFloatPayload(hi, lo)))).toEqual({
      reason: 'non_finite',
      detail: `field "v" holds ${shown}, which is not a finite number`,
    });
  });

  it('rejects NaN text inside CBOR as non_finite too', () => {
    expect(rejected(cbor({ field: 'v' })(encode({ v: 'NaN' }))).reason).toBe('non_finite');
  });

  it.each<[string, unknown, string]>([
    ['a boolean', true, 'a boolean (true)'],
    ['null', null, 'null'],
    ['a map', { a: 1 }, 'an object'],
    ['a byte string', new Uint8Array([1, 2, 3]), 'a byte string of 3 byte(s)'],
  ])('rejects %s as not_a_number', (_name, value, found) => {
    expect(rejected(cbor({ field: 'v' })(encode({ v: value })))).toEqual({
      reason: 'not_a_number',
      detail: `field "v" holds ${found}; expected a number or an array of numbers`,
    });
  });

  it('rejects CBOR undefined as not_a_number', () => {
    const payload = Uint8Array.from([0xa1, 0x61, 0x76, 0xf7]); // {"v": undefined}
    expect(rejected(cbor({ field: 'v' })(payload))).toMatchObject({
      reason: 'not_a_number',
      detail: /holds undefined/,
    });
  });

  it('reads CBOR epoch dates (tag 1), numbers and ISO text as timestamps', () => {
    const d = cbor({ field: 'v', timestampField: 'ts', sensorField: 'id' });
    expect(d(encode({ v: 1, ts: new Date(T), id: 'a' }))).toMatchObject({ ok: true, ts: T, sensor: 'a' });
    expect(d(encode({ v: 1, ts: T / 1000, id: 'a' }))).toMatchObject({ ts: T });
    expect(d(encode({ v: 1, ts: '2024-01-15T10:30:00Z', id: 7 }))).toMatchObject({ ts: T, sensor: '7' });
  });

  it('rejects a missing field naming the path', () => {
    expect(rejected(cbor({ field: 'data.v' })(encode({ data: {} })))).toEqual({
      reason: 'missing_field',
      detail: 'field "data.v" is missing: data has no "v"',
    });
  });

  it('applies length and empty-array rules', () => {
    expect(rejected(cbor({ field: 'v', length: 2 })(encode({ v: [1, 2, 3] }))).reason).toBe('wrong_length');
    expect(rejected(cbor({ field: 'v' })(encode({ v: [] }))).reason).toBe('wrong_length');
  });

  it('rejects an oversized payload', () => {
    expect(rejected(cbor({ maxBytes: 16 })(encode('x'.repeat(40))))).toMatchObject({
      reason: 'payload_too_large',
    });
  });

  it.each<[string, Uint8Array]>([
    ['empty', new Uint8Array(0)],
    ['truncated array', Uint8Array.from([0x82, 0x01])],
    ['trailing bytes', Uint8Array.from([0x01, 0x02])],
    ['reserved token', Uint8Array.from([0x1c])],
    ['a length beyond the data', Uint8Array.from([0x7a, 0xff, 0xff, 0xff, 0xff])],
    ['JSON text', new TextEncoder().encode('{"v": 1}')],
  ])('rejects %s as malformed_payload with an excerpt', (_name, payload) => {
    const r = rejected(cbor({ field: 'v' })(payload));
    expect(r.reason).toBe('malformed_payload');
    expect(r.detail).toMatch(/^payload is not valid CBOR: ".*" \(\d+ bytes?\)$/);
  });

  it('keeps no state between payloads (record definitions do not leak)', () => {
    // A cbor-x record definition (tag 0xdfff) followed, in a later payload, by a reference to it.
    const define = Uint8Array.from([0xd9, 0xdf, 0xff, 0x83, 0x19, 0xe0, 0x00, 0x81, 0x61, 0x76, 0x01]);
    const refer = Uint8Array.from([0xd9, 0xe0, 0x00, 0x81, 0x05]);
    expect(cbor({ field: 'v' })(define)).toMatchObject({ ok: true, values: [1] });
    expect(rejected(cbor({ field: 'v' })(refer)).reason).toBe('missing_field');
  });
});

describe('number decoder', () => {
  const num = (spec: { maxBytes?: number; length?: number } = {}) =>
    compileDecoder({ format: 'number', maxBytes: 64, ...spec });
  const text = (s: string) => new TextEncoder().encode(s);

  it.each<[string, number]>([
    ['23.5', 23.5],
    [' 23.5\r\n', 23.5],
    ['-4', -4],
    ['1e3', 1000],
    ['0', 0],
    ['"23.5"', 23.5],
  ])('reads %j', (payload, n) => {
    expect(num()(text(payload))).toEqual({ ok: true, values: [n], ts: undefined, sensor: undefined });
  });

  it.each(['NaN', 'Infinity', '-Infinity', '1e999', '"NaN"'])('rejects %j as non_finite', (payload) => {
    const r = rejected(num()(text(payload)));
    expect(r.reason).toBe('non_finite');
    expect(r.detail).toContain('which is not a finite number');
  });

  it.each(['true', 'false', 'null'])('rejects the JSON literal %j as not_a_number', (payload) => {
    expect(rejected(num()(text(payload))).reason).toBe('not_a_number');
  });

  it.each(['', '   ', 'abc', '0x10', '1,5', '[1]', '{"v":1}', '23.5 24.1'])(
    'rejects %j as malformed_payload',
    (payload) => {
      const r = rejected(num()(text(payload)));
      expect(r.reason).toBe('malformed_payload');
      expect(r.detail).toMatch(/^payload is not the text of one number: ".*" \(\d+ bytes?\)$/);
    },
  );

  it('rejects bytes that are not UTF-8 as malformed_payload', () => {
    expect(rejected(num()(Uint8Array.from([0x31, 0xff])))).toEqual({
      reason: 'malformed_payload',
      detail: 'payload is not UTF-8 text: "1\\xff" (2 bytes)',
    });
  });

  it('rejects oversized payloads', () => {
    expect(rejected(num({ maxBytes: 4 })(text('12345')))).toEqual({
      reason: 'payload_too_large',
      detail: 'payload is 5 bytes; the limit (maxBytes) is 4',
    });
  });

  it('applies a length: one number is one sample', () => {
    expect(num({ length: 1 })(text('5'))).toMatchObject({ ok: true });
    expect(rejected(num({ length: 3 })(text('5')))).toEqual({
      reason: 'wrong_length',
      detail: 'the payload holds 1 sample(s); expected 3 (input.length)',
    });
  });
});

import { describe, expect, it } from 'vitest';
import {
  compileDecoder,
  type DecodeResult,
  type DecoderSpec,
  type PayloadFormat,
} from '../../../agent/ingest/decoders.js';

const T = Date.UTC(2024, 0, 15, 10, 30, 0);

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
}

function decoder(spec: Partial<DecoderSpec> = {}) {
  return compileDecoder({ format: 'json' as PayloadFormat, maxBytes: 65_536, ...spec });
}

function rejected(result: DecodeResult): { reason: string; detail: string } {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  return { reason: result.reason, detail: result.detail };
}

describe('json decoder: values', () => {
  it('reads a bare number payload', () => {
    expect(decoder()(json('23.5'))).toEqual({ ok: true, values: [23.5], ts: undefined, sensor: undefined });
  });

  it('reads a field holding a number', () => {
    expect(decoder({ field: 'data.temp' })(json({ data: { temp: -4.25 } }))).toMatchObject({
      ok: true,
      values: [-4.25],
    });
  });

  it('reads a field holding an array, in order', () => {
    const d = decoder({ field: 'data.accel' });
    expect(d(json({ data: { accel: [0.1, -0.2, 9.81] } }))).toMatchObject({
      ok: true,
      values: [0.1, -0.2, 9.81],
    });
  });

  it('reads one element of an array with either path syntax', () => {
    const payload = json({ data: { accel: [0.1, -0.2, 9.81] } });
    expect(decoder({ field: 'data.accel[2]' })(payload)).toMatchObject({ values: [9.81] });
    expect(decoder({ field: 'data.accel.2' })(payload)).toMatchObject({ values: [9.81] });
  });

  it('reads a whole-payload array and elements of objects inside arrays', () => {
    expect(decoder()(json([1, 2, 3]))).toMatchObject({ ok: true, values: [1, 2, 3] });
    expect(decoder({ field: '[1].v' })(json([{ v: 1 }, { v: 2 }]))).toMatchObject({ values: [2] });
  });

  it('accepts numeric strings as numbers, alone and inside arrays', () => {
    expect(decoder({ field: 't' })(json({ t: '23.5' }))).toMatchObject({ ok: true, values: [23.5] });
    expect(decoder({ field: 't' })(json({ t: ' -1e2 ' }))).toMatchObject({ ok: true, values: [-100] });
    expect(decoder({ field: 'a' })(json({ a: [1, '2', '3.5'] }))).toMatchObject({
      ok: true,
      values: [1, 2, 3.5],
    });
  });

  it('accepts a UTF-8 byte-order mark before the JSON', () => {
    const bom = Uint8Array.from([0xef, 0xbb, 0xbf, ...json({ t: 1 })]);
    expect(decoder({ field: 't' })(bom)).toMatchObject({ ok: true, values: [1] });
  });

  it.each<[unknown, RegExp]>([
    ['NaN', /field "t" holds the text "NaN", which is not a finite number/],
    ['Infinity', /"Infinity"/],
    ['-Infinity', /"-Infinity"/],
    ['inf', /"inf"/],
    ['1e999', /"1e999"/],
  ])('rejects the text %j as non_finite', (value, detail) => {
    const r = rejected(decoder({ field: 't' })(json({ t: value })));
    expect(r.reason).toBe('non_finite');
    expect(r.detail).toMatch(detail);
  });

  it('rejects a JSON number that overflows to Infinity as non_finite', () => {
    expect(rejected(decoder({ field: 't' })(json('{"t": 1e999}'))).reason).toBe('non_finite');
  });

  it('rejects a non-finite element and says which one', () => {
    const r = rejected(decoder({ field: 'a' })(json({ a: [1, 2, 'NaN'] })));
    expect(r).toEqual({
      reason: 'non_finite',
      detail: 'element 2 of field "a" holds the text "NaN", which is not a finite number',
    });
  });

  it.each<[unknown, string]>([
    [true, 'a boolean (true)'],
    [false, 'a boolean (false)'],
    [null, 'null'],
    [{ v: 1 }, 'an object'],
    ['warm', 'the text "warm"'],
    ['', 'the text ""'],
    ['0x1f', 'the text "0x1f"'],
  ])('rejects %j as not_a_number, saying what was found', (value, found) => {
    const r = rejected(decoder({ field: 'data.t' })(json({ data: { t: value } })));
    expect(r).toEqual({
      reason: 'not_a_number',
      detail: `field "data.t" holds ${found}; expected a number or an array of numbers`,
    });
  });

  it('rejects nested arrays and non-numbers inside arrays as not_a_number', () => {
    expect(
      rejected(
        decoder({ field: 'a' })(
          json({
            a: [
              [1, 2],
              [3, 4],
            ],
          }),
        ),
      ),
    ).toEqual({
      reason: 'not_a_number',
      detail: 'element 0 of field "a" holds an array of 2; expected a number or an array of numbers',
    });
    expect(rejected(decoder({ field: 'a' })(json({ a: [1, null] }))).detail).toContain(
      'element 1 of field "a" holds null',
    );
  });

  it('names the whole payload when there is no field', () => {
    expect(rejected(decoder()(json({ t: 1 }))).detail).toBe(
      'the payload holds an object; expected a number or an array of numbers',
    );
  });
});

describe('json decoder: missing fields and lengths', () => {
  it('rejects a missing path naming the path and the first missing segment', () => {
    expect(rejected(decoder({ field: 'data.accel[2]' })(json({ data: { temp: 1 } })))).toEqual({
      reason: 'missing_field',
      detail: 'field "data.accel[2]" is missing: data has no "accel"',
    });
    expect(rejected(decoder({ field: 'data.accel[2]' })(json({ data: { accel: [1] } }))).detail).toBe(
      'field "data.accel[2]" is missing: data.accel has 1 element(s), so no index 2',
    );
  });

  it('treats a field that is present but null as not_a_number, not missing', () => {
    expect(rejected(decoder({ field: 't' })(json({ t: null }))).reason).toBe('not_a_number');
  });

  it('checks the expected length', () => {
    const d = decoder({ field: 'a', length: 3 });
    expect(d(json({ a: [1, 2, 3] }))).toMatchObject({ ok: true, values: [1, 2, 3] });
    expect(rejected(d(json({ a: [1, 2] })))).toEqual({
      reason: 'wrong_length',
      detail: 'field "a" holds 2 sample(s); expected 3 (input.length)',
    });
    expect(rejected(d(json({ a: [1, 2, 3, 4] }))).detail).toContain('holds 4 sample(s); expected 3');
    expect(rejected(d(json({ a: 1 }))).detail).toContain('holds 1 sample(s); expected 3');
  });

  it('counts a single number as one sample for length 1', () => {
    expect(decoder({ field: 'a', length: 1 })(json({ a: 5 }))).toMatchObject({ ok: true, values: [5] });
  });

  it('rejects an empty array as wrong_length, with or without a length', () => {
    expect(rejected(decoder({ field: 'a' })(json({ a: [] })))).toEqual({
      reason: 'wrong_length',
      detail: 'field "a" holds an empty array; expected at least one sample',
    });
    expect(rejected(decoder({ field: 'a', length: 3 })(json({ a: [] }))).reason).toBe('wrong_length');
  });
});

describe('json decoder: timestamps and sensor ids', () => {
  const d = decoder({ field: 'v', timestampField: 'ts', sensorField: 'device.id' });

  it.each<[unknown, number]>([
    [T, T],
    [T / 1000, T],
    [String(T / 1000), T],
    ['2024-01-15T10:30:00Z', T],
    ['2024-01-15T11:30:00.000+01:00', T],
  ])('reads the timestamp %j', (ts, expected) => {
    expect(d(json({ v: 1, ts, device: { id: 'press3' } }))).toEqual({
      ok: true,
      values: [1],
      ts: expected,
      sensor: 'press3',
    });
  });

  it('rejects a missing timestamp naming the field', () => {
    expect(rejected(d(json({ v: 1, device: { id: 'a' } })))).toEqual({
      reason: 'missing_field',
      detail: 'timestamp field "ts" is missing: the payload has no "ts"',
    });
  });

  it.each<[unknown, string, RegExp]>([
    ['NaN', 'non_finite', /timestamp field "ts" holds the text "NaN", which is not a finite time/],
    [
      true,
      'not_a_number',
      /holds a boolean \(true\); expected seconds or milliseconds since the epoch, or ISO-8601/,
    ],
    ['2024-01-15T10:30:00', 'not_a_number', /ISO-8601 with a zone/],
    ['tomorrow', 'not_a_number', /the text "tomorrow"/],
    [null, 'not_a_number', /holds null/],
  ])('rejects the timestamp %j', (ts, reason, detail) => {
    const r = rejected(d(json({ v: 1, ts, device: { id: 'a' } })));
    expect(r.reason).toBe(reason);
    expect(r.detail).toMatch(detail);
  });

  it('reads a sensor id given as an integer', () => {
    expect(d(json({ v: 1, ts: T, device: { id: 17 } }))).toMatchObject({ ok: true, sensor: '17' });
  });

  it('rejects a missing or unusable sensor id as missing_field', () => {
    expect(rejected(d(json({ v: 1, ts: T, device: {} })))).toEqual({
      reason: 'missing_field',
      detail: 'sensor id field "device.id" is missing: device has no "id"',
    });
    for (const id of ['', 1.5, true, null, { a: 1 }]) {
      const r = rejected(d(json({ v: 1, ts: T, device: { id } })));
      expect(r.reason).toBe('missing_field');
      expect(r.detail).toMatch(/^sensor id field "device.id" holds .*; expected text or an integer$/);
    }
  });

  it('leaves ts and sensor undefined when the spec does not ask for them', () => {
    expect(decoder({ field: 'v' })(json({ v: 1, ts: T, device: { id: 'x' } }))).toEqual({
      ok: true,
      values: [1],
      ts: undefined,
      sensor: undefined,
    });
  });
});

describe('json decoder: bad payloads', () => {
  it('rejects a payload over maxBytes before parsing it', () => {
    const d = decoder({ maxBytes: 16 });
    expect(d(json('1'.repeat(16)))).toMatchObject({ ok: true });
    expect(rejected(d(json('1'.repeat(17))))).toEqual({
      reason: 'payload_too_large',
      detail: 'payload is 17 bytes; the limit (maxBytes) is 16',
    });
  });

  it.each<[string, Uint8Array]>([
    ['empty', new Uint8Array(0)],
    ['truncated JSON', json('{"t": 1')],
    ['text', json('hello')],
    ['invalid UTF-8', Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['binary garbage', Uint8Array.from([0x00, 0x01, 0x02, 0x1b, 0x5b])],
    ['JSON with NaN literal', json('{"t": NaN}')],
  ])('rejects %s as malformed_payload with a safe excerpt', (_name, payload) => {
    const r = rejected(decoder({ field: 't' })(payload));
    expect(r.reason).toBe('malformed_payload');
    expect(r.detail).toMatch(/^payload is not valid JSON: ".*" \(\d+ bytes?\)$/);
    expect(r.detail).toMatch(/^[\x20-\x7e…]*$/);
  });

  it('truncates the excerpt of a large malformed payload', () => {
    const r = rejected(decoder()(json(`{${'x'.repeat(5000)}`)));
    expect(r.detail).toBe(`payload is not valid JSON: "{${'x'.repeat(39)}"… (5001 bytes)`);
  });
});

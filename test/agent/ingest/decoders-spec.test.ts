import { describe, expect, it } from 'vitest';
import { compileDecoder, type DecoderSpec } from '../../../agent/ingest/decoders.js';
import { DecoderSpecError } from '../../../agent/ingest/errors.js';

function specError(spec: DecoderSpec): DecoderSpecError {
  try {
    compileDecoder(spec);
  } catch (err) {
    if (err instanceof DecoderSpecError) return err;
    throw err;
  }
  throw new Error('expected compileDecoder to throw');
}

describe('compileDecoder: spec validation', () => {
  it.each<[string, RegExp]>([
    ['a..b', /field "a\.\.b" has an empty name at 2; write paths like data\.accel\[2\]/],
    ['a[x]', /field "a\[x\]" has "\[x\]" at 1/],
    ['a.', /ends with "\."/],
    ['a[0', /without a closing/],
    ['', /is empty/],
  ])('refuses the field path %j with DECODER_SPEC_INVALID', (field, message) => {
    const err = specError({ format: 'json', maxBytes: 100, field });
    expect(err.code).toBe('DECODER_SPEC_INVALID');
    expect(err.property).toBe('field');
    expect(err.message).toMatch(message);
  });

  it('checks timestampField and sensorField paths too, naming which one', () => {
    expect(specError({ format: 'json', maxBytes: 100, timestampField: 'a..b' }).property).toBe(
      'timestampField',
    );
    expect(specError({ format: 'cbor', maxBytes: 100, sensorField: '[x]' }).property).toBe('sensorField');
  });

  it.each(['field', 'timestampField', 'sensorField'] as const)(
    'refuses %s on a plain-number payload',
    (property) => {
      const err = specError({ format: 'number', maxBytes: 100, [property]: 'a' });
      expect(err.property).toBe(property);
      expect(err.message).toContain('a "number" payload has no fields; use format json or cbor');
    },
  );

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses maxBytes %d', (maxBytes) => {
    expect(specError({ format: 'json', maxBytes }).property).toBe('maxBytes');
  });

  it.each([0, -3, 2.5, Number.NaN])('refuses length %d', (length) => {
    expect(specError({ format: 'json', maxBytes: 10, length }).property).toBe('length');
  });

  it('refuses an unknown format, listing the known ones', () => {
    const err = specError({ format: 'xml' as 'json', maxBytes: 10 });
    expect(err.property).toBe('format');
    expect(err.message).toContain('"xml"; expected one of json, number, cbor');
  });

  it('accepts every valid combination', () => {
    expect(() =>
      compileDecoder({
        format: 'cbor',
        maxBytes: 1,
        field: 'a[0].b',
        timestampField: 'ts',
        sensorField: 'dev.id',
        length: 1,
      }),
    ).not.toThrow();
    expect(() => compileDecoder({ format: 'number', maxBytes: 1, length: 1 })).not.toThrow();
  });
});

describe('compiled decoders', () => {
  it('give fresh values per payload (a result is not overwritten by the next one)', () => {
    const d = compileDecoder({ format: 'json', maxBytes: 1000, field: 'a' });
    const first = d(new TextEncoder().encode('{"a":[1,"2"]}'));
    const second = d(new TextEncoder().encode('{"a":[3,"4"]}'));
    expect(first).toMatchObject({ values: [1, 2] });
    expect(second).toMatchObject({ values: [3, 4] });
  });
});

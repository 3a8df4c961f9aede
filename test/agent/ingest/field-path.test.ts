import { describe, expect, it } from 'vitest';
import {
  describeMissing,
  type FieldPath,
  lookupField,
  MISSING,
  parseFieldPath,
} from '../../../agent/ingest/field-path.js';

function path(text: string): FieldPath {
  const parsed = parseFieldPath(text);
  if (typeof parsed === 'string') throw new Error(`test path ${text}: ${parsed}`);
  return parsed;
}

describe('parseFieldPath', () => {
  it.each<[string, string[]]>([
    ['temp', ['temp']],
    ['data.temp', ['data', 'temp']],
    ['data.accel[2]', ['data', 'accel', '2']],
    ['data.accel.2', ['data', 'accel', '2']],
    ['data.accel[2][0]', ['data', 'accel', '2', '0']],
    ['[0]', ['0']],
    ['[0].v', ['0', 'v']],
    ['a[10].b', ['a', '10', 'b']],
    ['my field.µ-value', ['my field', 'µ-value']],
    ['a.$b', ['a', '$b']],
  ])('reads %j as %j', (text, keys) => {
    expect(path(text).keys).toEqual(keys);
  });

  it('knows which segments can index an array', () => {
    expect(path('data.accel[2]').indexes).toEqual([-1, -1, 2]);
    expect(path('data.accel.02').indexes).toEqual([-1, -1, -1]); // "02" is only ever a key
  });

  it.each<[string, RegExp]>([
    ['', /is empty/],
    ['a..b', /empty name at 2/],
    ['.a', /empty name at 0/],
    ['a.', /ends with "\."/],
    ['a[', /"\[" at 1 without a closing "\]"/],
    ['a[]', /"\[\]" at 1; a bracket holds an array index/],
    ['a[x]', /"\[x\]"/],
    ['a[-1]', /"\[-1\]"/],
    ['a[01]', /"\[01\]"/],
    ['a[1.5]', /"\[1.5\]"/],
    ['a]', /"\]" at 1 without an opening "\["/],
    ['a[0]b', /"b" at 4 where "\." or "\[" was expected/],
    ['a.[0]', /right after "\."/],
    [Array.from({ length: 65 }, () => 'a').join('.'), /65 segments; at most 64/],
  ])('refuses %j', (text, problem) => {
    expect(parseFieldPath(text)).toMatch(problem);
  });
});

describe('lookupField', () => {
  const doc = {
    data: { temp: 21.5, accel: [0.1, 0.2, 0.3], nested: [{ v: 7 }], zero: 0, nil: null, '2': 'two' },
  };

  it.each<[string, unknown]>([
    ['data.temp', 21.5],
    ['data.accel[2]', 0.3],
    ['data.accel.2', 0.3],
    ['data.nested[0].v', 7],
    ['data.zero', 0],
    ['data.nil', null],
    ['data.2', 'two'],
    ['data.accel', [0.1, 0.2, 0.3]],
  ])('finds %j', (text, expected) => {
    expect(lookupField(doc, path(text))).toEqual(expected);
  });

  it.each([
    'data.humidity',
    'data.accel[3]',
    'data.accel.x',
    'data.temp.x',
    'data.nil.x',
    'other',
    'data.nested[1].v',
  ])('reports %j as missing', (text) => {
    expect(lookupField(doc, path(text))).toBe(MISSING);
  });

  it('never reaches into the prototype chain', () => {
    const parsed = JSON.parse('{"__proto__": {"x": 1}, "a": {}}');
    expect(lookupField({}, path('constructor'))).toBe(MISSING);
    expect(lookupField({ a: {} }, path('a.toString'))).toBe(MISSING);
    expect(lookupField([], path('length'))).toBe(MISSING);
    expect(lookupField(parsed, path('__proto__.x'))).toBe(1); // own key from JSON, not the prototype
  });

  it('indexes typed arrays and keys Maps', () => {
    expect(lookupField({ v: new Float32Array([1, 2.5]) }, path('v[1]'))).toBe(2.5);
    expect(lookupField(new Map<unknown, unknown>([['a', 1]]), path('a'))).toBe(1);
    expect(lookupField(new Map<unknown, unknown>([[3, 'int key']]), path('[3]'))).toBe('int key');
    expect(lookupField(new Map(), path('a'))).toBe(MISSING);
  });

  it('finds a present undefined (CBOR undefined) rather than calling it missing', () => {
    expect(lookupField({ a: undefined }, path('a'))).toBeUndefined();
  });

  it('reads a top-level array with a leading index', () => {
    expect(lookupField([5, 6], path('[1]'))).toBe(6);
    expect(lookupField(42, path('[0]'))).toBe(MISSING);
  });
});

describe('describeMissing', () => {
  const doc = { data: { temp: 21.5, accel: [1, 2], nil: null } };

  it.each<[string, string]>([
    ['data.humidity', 'field "data.humidity" is missing: data has no "humidity"'],
    ['data.accel[5]', 'field "data.accel[5]" is missing: data.accel has 2 element(s), so no index 5'],
    ['data.accel.x', 'field "data.accel.x" is missing: data.accel is an array, so it has no "x"'],
    ['data.temp.c', 'field "data.temp.c" is missing: data.temp is a number, so it has no "c"'],
    ['data.nil.c', 'field "data.nil.c" is missing: data.nil is null, so it has no "c"'],
    ['sensor', 'field "sensor" is missing: the payload has no "sensor"'],
  ])('names the path and the first missing segment: %j', (text, detail) => {
    expect(describeMissing(doc, path(text))).toBe(detail);
  });

  it('describes a scalar payload', () => {
    expect(describeMissing(42, path('a'))).toBe(
      'field "a" is missing: the payload is a number, so it has no "a"',
    );
  });
});

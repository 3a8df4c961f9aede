import { describe, expect, it } from 'vitest';
import {
  describeValue,
  isSampleList,
  parseNumberText,
  payloadExcerpt,
  toSample,
} from '../../../agent/ingest/values.js';

describe('parseNumberText', () => {
  it.each<[string, number]>([
    ['23.5', 23.5],
    ['  23.5\n', 23.5],
    ['-4', -4],
    ['+4', 4],
    ['0', 0],
    ['-0', -0],
    ['.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['1.5E-3', 0.0015],
    ['-2.5e+2', -250],
  ])('reads %j as %d', (text, n) => {
    expect(parseNumberText(text)).toBe(n);
  });

  it.each(['NaN', 'nan', '-NaN', 'Infinity', '-Infinity', '+Infinity', 'inf', '-INF', '1e999', '-1e999'])(
    'calls %j non-finite',
    (text) => {
      expect(parseNumberText(text)).toBe('non_finite');
    },
  );

  it.each([
    '',
    '   ',
    'abc',
    '0x1f',
    '0b11',
    '0o7',
    '1_000',
    '1,5',
    '12abc',
    '1e',
    '.',
    '-',
    '++1',
    'true',
    'null',
  ])('calls %j not a number (where Number() would have guessed)', (text) => {
    expect(parseNumberText(text)).toBe('not_a_number');
  });
});

describe('toSample', () => {
  it('takes finite numbers, decimal text and bigints', () => {
    expect(toSample(1.25)).toBe(1.25);
    expect(toSample('1.25')).toBe(1.25);
    expect(toSample(12345678901234567890n)).toBe(12345678901234567000);
  });

  it('calls NaN, ±Infinity and a bigint past the double range non-finite', () => {
    expect(toSample(Number.NaN)).toBe('non_finite');
    expect(toSample(Number.POSITIVE_INFINITY)).toBe('non_finite');
    expect(toSample(Number.NEGATIVE_INFINITY)).toBe('non_finite');
    expect(toSample(2n ** 1100n)).toBe('non_finite');
  });

  it.each<[unknown]>([[true], [false], [null], [undefined], [{}], [[1]], [new Date(0)]])(
    'calls %o not a number',
    (value) => {
      expect(toSample(value)).toBe('not_a_number');
    },
  );
});

describe('isSampleList', () => {
  it('accepts arrays and numeric typed arrays, not byte strings', () => {
    expect(isSampleList([1, 2])).toBe(true);
    expect(isSampleList(new Float32Array(2))).toBe(true);
    expect(isSampleList(new Int16Array(2))).toBe(true);
    expect(isSampleList(new Uint8ClampedArray(2))).toBe(true);
    expect(isSampleList(new Uint8Array(2))).toBe(false);
    expect(isSampleList(Buffer.from([1, 2]))).toBe(false);
    expect(isSampleList(new DataView(new ArrayBuffer(2)))).toBe(false);
    expect(isSampleList({ length: 2 })).toBe(false);
    expect(isSampleList('12')).toBe(false);
  });
});

describe('describeValue', () => {
  it.each<[unknown, string]>([
    [undefined, 'undefined'],
    [null, 'null'],
    [true, 'a boolean (true)'],
    [Number.NaN, 'NaN'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
    [7n, '7'],
    ['NaN', 'the text "NaN"'],
    ['line\nbreak\u001b[31m', 'the text "line\\nbreak\\u001b[31m"'],
    [[], 'an empty array'],
    [[1, 2], 'an array of 2'],
    [new Uint8Array(3), 'a byte string of 3 byte(s)'],
    [new Float64Array(3), 'a Float64Array'],
    [new Date(0), 'a date (1970-01-01T00:00:00.000Z)'],
    [new Date(Number.NaN), 'a date (invalid)'],
    [new Map([[1, 2]]), 'a map of 1'],
    [{ a: 1 }, 'an object'],
    [Symbol('s'), 'a symbol'],
  ])('describes %o as %j', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });

  it('truncates long text', () => {
    expect(describeValue('x'.repeat(100))).toBe(`the text "${'x'.repeat(32)}…"`);
  });
});

describe('payloadExcerpt', () => {
  it('quotes printable ASCII and gives the size', () => {
    expect(payloadExcerpt(Buffer.from('{"t": 1'))).toBe('"{\\"t\\": 1" (7 bytes)');
    expect(payloadExcerpt(Buffer.from('x'))).toBe('"x" (1 byte)');
    expect(payloadExcerpt(new Uint8Array(0))).toBe('"" (0 bytes)');
  });

  it('escapes control, binary and non-ASCII bytes so a log line stays one safe line', () => {
    const excerpt = payloadExcerpt(Uint8Array.from([0x00, 0x0a, 0x1b, 0x5c, 0xff, 0xc3, 0xbc]));
    expect(excerpt).toBe('"\\x00\\x0a\\x1b\\\\\\xff\\xc3\\xbc" (7 bytes)');
    expect(excerpt).toMatch(/^[\x20-\x7e…]*$/);
  });

  it('truncates to the first bytes', () => {
    const excerpt = payloadExcerpt(Buffer.from('a'.repeat(1000)));
    expect(excerpt).toBe(`"${'a'.repeat(40)}"… (1000 bytes)`);
    expect(payloadExcerpt(Buffer.from('abcdef'), 3)).toBe('"abc"… (6 bytes)');
  });
});

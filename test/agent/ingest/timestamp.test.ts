import { describe, expect, it } from 'vitest';
import { parseIsoTime, SECONDS_BELOW, toTimestampMs } from '../../../agent/ingest/timestamp.js';

const T = Date.UTC(2024, 0, 15, 10, 30, 0); // 2024-01-15T10:30:00Z

describe('toTimestampMs', () => {
  it('reads numbers below 1e11 as seconds and scales them', () => {
    expect(toTimestampMs(T / 1000)).toBe(T);
    expect(toTimestampMs(1_700_000_000)).toBe(1_700_000_000_000);
    expect(toTimestampMs(0)).toBe(0);
    expect(toTimestampMs(SECONDS_BELOW - 1)).toBe((SECONDS_BELOW - 1) * 1000);
  });

  it('reads numbers from 1e11 on as milliseconds', () => {
    expect(toTimestampMs(T)).toBe(T);
    expect(toTimestampMs(SECONDS_BELOW)).toBe(SECONDS_BELOW);
  });

  it('keeps fractions, so sub-millisecond readings stay distinct', () => {
    expect(toTimestampMs(1_700_000_000.0001)).toBeCloseTo(1_700_000_000_000.1, 3);
    expect(toTimestampMs(1_700_000_000.0001)).not.toBe(toTimestampMs(1_700_000_000.0002));
    expect(toTimestampMs(T + 0.25)).toBe(T + 0.25);
  });

  it('reads decimal text like numbers', () => {
    expect(toTimestampMs('1700000000')).toBe(1_700_000_000_000);
    expect(toTimestampMs(` ${T} `)).toBe(T);
  });

  it('reads bigints (CBOR 64-bit integers)', () => {
    expect(toTimestampMs(BigInt(T))).toBe(T);
    expect(toTimestampMs(1_700_000_000n)).toBe(1_700_000_000_000);
  });

  it('reads CBOR dates (decoded to Date)', () => {
    expect(toTimestampMs(new Date(T))).toBe(T);
    expect(toTimestampMs(new Date(Number.NaN))).toBe('non_finite');
  });

  it('reads ISO-8601 text', () => {
    expect(toTimestampMs('2024-01-15T10:30:00Z')).toBe(T);
    expect(toTimestampMs(' 2024-01-15T10:30:00Z ')).toBe(T);
  });

  it('calls NaN and ±Infinity non-finite', () => {
    expect(toTimestampMs(Number.NaN)).toBe('non_finite');
    expect(toTimestampMs(Number.POSITIVE_INFINITY)).toBe('non_finite');
    expect(toTimestampMs('NaN')).toBe('non_finite');
    expect(toTimestampMs('-Infinity')).toBe('non_finite');
    expect(toTimestampMs('1e999')).toBe('non_finite');
  });

  it.each<[unknown]>([[true], [null], [undefined], [{}], [[T]], ['yesterday'], ['2024-01-15T10:30:00']])(
    'calls %o not a time',
    (value) => {
      expect(toTimestampMs(value)).toBe('not_a_number');
    },
  );
});

describe('parseIsoTime', () => {
  it.each<[string, number]>([
    ['2024-01-15T10:30:00Z', T],
    ['2024-01-15T10:30:00z', T],
    ['2024-01-15t10:30:00Z', T],
    ['2024-01-15 10:30:00Z', T],
    ['2024-01-15T10:30Z', T],
    ['2024-01-15T11:30:00+01:00', T],
    ['2024-01-15T11:30:00+0100', T],
    ['2024-01-15T11:30:00+01', T],
    ['2024-01-15T05:00:00-05:30', T],
    ['2024-01-15T10:30:00.5Z', T + 500],
    ['2024-01-15T10:30:00,5Z', T + 500],
    ['2024-01-15T10:30:00.123Z', T + 123],
    ['2024-01-15', Date.UTC(2024, 0, 15)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['1970-01-01T00:00:00Z', 0],
    ['1969-12-31T23:59:59Z', -1000],
    ['2099-12-31T23:59:59Z', Date.UTC(2099, 11, 31, 23, 59, 59)],
  ])('reads %j', (text, ms) => {
    expect(parseIsoTime(text)).toBe(ms);
  });

  it('keeps sub-millisecond digits as a fraction of a millisecond', () => {
    expect(parseIsoTime('2024-01-15T10:30:00.123456Z')).toBeCloseTo(T + 123.456, 3);
  });

  it('does not map years 0-99 to the 1900s as Date.UTC does', () => {
    expect(parseIsoTime('0050-01-01T00:00:00Z')).toBe(new Date('0050-01-01T00:00:00Z').getTime());
  });

  it('agrees with Date.parse on valid zoned times across the calendar', () => {
    for (let year = 1971; year < 2100; year += 7) {
      for (let month = 1; month <= 12; month += 1) {
        const text = `${year}-${String(month).padStart(2, '0')}-28T13:14:15.678+02:00`;
        expect(parseIsoTime(text), text).toBe(Date.parse(text));
      }
    }
  });

  it.each([
    '2024-01-15T10:30:00', // no zone: local time would depend on the edge box
    '2024-02-30T00:00:00Z', // Date.parse rolls this into March
    '2023-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-00-10T00:00:00Z',
    '2024-01-00T00:00:00Z',
    '2024-04-31T00:00:00Z',
    '2024-01-15T24:00:00Z',
    '2024-01-15T10:60:00Z',
    '2024-01-15T10:30:60Z',
    '2024-01-15T10:30:00+24:00',
    '2024-01-15T10:30:00+01:60',
    '2024-1-15T10:30:00Z',
    '15/01/2024',
    'Mon, 15 Jan 2024 10:30:00 GMT',
    '2024-01-15T10:30:00Zjunk',
    '',
  ])('refuses %j', (text) => {
    expect(parseIsoTime(text)).toBe('not_a_number');
  });
});

import { parseNumberText, type ScalarProblem } from './values.js';

/**
 * Numeric timestamps below this are seconds since the epoch, at or above it milliseconds.
 * 1e11 s is the year 5138; 1e11 ms is March 1973, before any sensor that sends these payloads.
 */
export const SECONDS_BELOW = 1e11;

/**
 * A reading's timestamp in milliseconds since the epoch (fractions of a millisecond are kept,
 * so sensors faster than 1 kHz do not collide into duplicates). Accepted: a number of seconds
 * or milliseconds (see SECONDS_BELOW), the same as decimal text, a CBOR date (tag 0/1, decoded
 * to a Date) and ISO-8601 text with an explicit zone.
 */
export function toTimestampMs(value: unknown): number | ScalarProblem {
  let n: number | ScalarProblem;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'bigint') n = Number(value);
  else if (typeof value === 'string') {
    n = parseNumberText(value);
    if (n === 'not_a_number') return parseIsoTime(value.trim());
  } else if (value instanceof Date) {
    const t = value.getTime();
    return Number.isFinite(t) ? t : 'non_finite';
  } else return 'not_a_number';
  if (typeof n !== 'number') return n;
  if (!Number.isFinite(n)) return 'non_finite';
  return n < SECONDS_BELOW ? n * 1000 : n;
}

// YYYY-MM-DD, optionally followed by a time that must carry a zone (Z or ±hh:mm / ±hhmm / ±hh).
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?))?$/;

/**
 * Strict ISO-8601 / RFC 3339 parsing. `Date.parse` is not used: it rolls 2024-02-30 over into
 * March, and reads a time without a zone as the machine's local time, which on an edge box in
 * another time zone than the sensor silently shifts every reading. A date alone is UTC midnight.
 */
export function parseIsoTime(text: string): number | 'not_a_number' {
  const m = ISO.exec(text);
  if (m === null) return 'not_a_number';
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return 'not_a_number';
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  // Leap seconds (:60) are refused like Date.parse does; nothing downstream could order them.
  if (hour > 23 || minute > 59 || second > 59) return 'not_a_number';
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11] ?? 0);
    if (oh > 23 || om > 59) return 'not_a_number';
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const fraction = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000;
  const days = daysFromCivil(year, month, day);
  return ((days * 24 + hour) * 60 + minute - offsetMinutes) * 60_000 + second * 1000 + fraction;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). Not
 * Date.UTC, which maps years 0-99 to 1900-1999.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * Field paths into a decoded JSON or CBOR payload: `data.accel[2]`, `data.accel.2`, `[0].v`.
 * A path is parsed once, when the pipeline is built; lookups walk the value without allocating.
 */

export interface FieldPath {
  /** The path as configured, for messages. */
  readonly text: string;
  /** Object keys; for bracket segments the decimal index as a string. */
  readonly keys: readonly string[];
  /** The array index each segment selects, or -1 when the segment cannot index an array. */
  readonly indexes: readonly number[];
  /** Where each segment ends in `text`, so a message can quote the part that was found. */
  readonly ends: readonly number[];
}

const MAX_SEGMENTS = 64;
const INDEX = /^(0|[1-9][0-9]{0,8})$/;

/** Parses a field path; returns the problem as a string when the syntax is wrong. */
export function parseFieldPath(text: string): FieldPath | string {
  if (text.length === 0) return 'is empty';
  const keys: string[] = [];
  const ends: number[] = [];
  let i = 0;
  let expectKey = text[0] !== '[';
  while (i < text.length) {
    if (text[i] === '[') {
      if (expectKey) return `has "[" at ${i} right after "."; write a[0], not a.[0]`;
      const close = text.indexOf(']', i);
      if (close === -1) return `has "[" at ${i} without a closing "]"`;
      const inner = text.slice(i + 1, close);
      if (!INDEX.test(inner)) return `has "[${inner}]" at ${i}; a bracket holds an array index (0, 1, 2, …)`;
      keys.push(inner);
      i = close + 1;
      ends.push(i);
      expectKey = false;
    } else if (expectKey) {
      let end = i;
      while (end < text.length && text[end] !== '.' && text[end] !== '[' && text[end] !== ']') end++;
      if (end === i) return `has an empty name at ${i}`;
      if (text[end] === ']') return `has "]" at ${end} without an opening "["`;
      keys.push(text.slice(i, end));
      i = end;
      ends.push(i);
      expectKey = false;
    } else if (text[i] === '.') {
      if (i === text.length - 1) return 'ends with "."';
      i++;
      expectKey = true;
    } else {
      return `has "${text[i]}" at ${i} where "." or "[" was expected`;
    }
  }
  if (keys.length > MAX_SEGMENTS) return `has ${keys.length} segments; at most ${MAX_SEGMENTS} are supported`;
  return { text, keys, indexes: keys.map((k) => (INDEX.test(k) ? Number(k) : -1)), ends };
}

/** Returned by lookupField when a segment of the path is absent. */
export const MISSING: unique symbol = Symbol('missing');

/**
 * The value at `path` inside `root`, or MISSING. Arrays and typed arrays are indexed, plain
 * objects and Maps are keyed; only own properties count, so `constructor` or `__proto__` never
 * reach into the prototype.
 */
export function lookupField(root: unknown, path: FieldPath): unknown {
  let current = root;
  const { keys, indexes } = path;
  for (let s = 0; s < keys.length; s++) {
    current = step(current, keys[s] as string, indexes[s] as number);
    if (current === MISSING) return MISSING;
  }
  return current;
}

function step(value: unknown, key: string, index: number): unknown {
  if (typeof value !== 'object' || value === null) return MISSING;
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const list = value as ArrayLike<unknown>;
    return index >= 0 && index < list.length ? list[index] : MISSING;
  }
  if (value instanceof Map) {
    if (value.has(key)) return value.get(key);
    return index >= 0 && value.has(index) ? value.get(index) : MISSING;
  }
  return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : MISSING;
}

/**
 * Says where `path` stops inside `root`: the first missing segment and what was there instead.
 * Only called on the rejection path, so it may allocate.
 */
export function describeMissing(root: unknown, path: FieldPath): string {
  let current = root;
  for (let s = 0; s < path.keys.length; s++) {
    const key = path.keys[s] as string;
    const next = step(current, key, path.indexes[s] as number);
    if (next === MISSING) {
      const at = s === 0 ? 'the payload' : path.text.slice(0, path.ends[s - 1]);
      return `field "${path.text}" is missing: ${at} ${whyMissing(current, key)}`;
    }
    current = next;
  }
  return `field "${path.text}" is present`;
}

function whyMissing(container: unknown, key: string): string {
  if (Array.isArray(container) || ArrayBuffer.isView(container)) {
    const n = (container as ArrayLike<unknown>).length;
    return INDEX.test(key) ? `has ${n} element(s), so no index ${key}` : `is an array, so it has no "${key}"`;
  }
  if (container === null) return `is null, so it has no "${key}"`;
  if (typeof container !== 'object') return `is a ${typeof container}, so it has no "${key}"`;
  return `has no "${key}"`;
}

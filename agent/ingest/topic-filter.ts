import { SensorSourceError, TopicFilterError } from './errors.js';

/**
 * MQTT 3.1.1 topic filters (OASIS standard, §4.7): validation, a compiled matcher for the hot
 * path, and extraction of a sensor id from a topic name. Clause ids are cited where implemented.
 */

const MAX_UTF8_BYTES = 65_535;
const DOLLAR = 0x24;

/** Returns what is wrong with `filter` as an MQTT 3.1.1 topic filter, or null when it is valid. */
export function validateTopicFilter(filter: string): string | null {
  // [MQTT-4.7.3-1] Topic Names and Topic Filters MUST be at least one character long.
  if (filter.length === 0) return 'is empty; a topic filter needs at least one character';
  // [MQTT-4.7.3-2] / [MQTT-1.5.3-2] no U+0000.
  if (filter.includes('\u0000')) return 'contains the NUL character (U+0000), which MQTT forbids';
  // [MQTT-1.5.3-1] well-formed UTF-8: no lone surrogate halves.
  const surrogate = loneSurrogateAt(filter);
  if (surrogate >= 0)
    return `contains an unpaired UTF-16 surrogate at index ${surrogate}, which is not valid UTF-8`;
  // [MQTT-4.7.3-3] no more than 65535 bytes once UTF-8 encoded.
  const bytes = utf8Length(filter);
  if (bytes > MAX_UTF8_BYTES) return `is ${bytes} bytes long in UTF-8; MQTT allows at most ${MAX_UTF8_BYTES}`;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes('#')) {
      // [MQTT-4.7.1-2] '#' alone or after a separator, and the last character of the filter.
      if (level !== '#')
        return `level ${i} ("${level}") holds "#" with other characters; "#" must be a level on its own`;
      if (i !== levels.length - 1) return `"#" is at level ${i} but must be the last level of the filter`;
    }
    // [MQTT-4.7.1-3] '+' must occupy an entire level.
    if (level.includes('+') && level !== '+') {
      return `level ${i} ("${level}") holds "+" with other characters; "+" must be a level on its own`;
    }
  }
  return null;
}

export type TopicMatcher = (topic: string) => boolean;

const WILDCARD_ONE = 1;
const WILDCARD_MANY = 2;

/**
 * Compiles a validated filter into a matcher that walks the topic in place: no split, no
 * substring, no allocation per call. Throws TopicFilterError (TOPIC_FILTER_INVALID).
 */
export function compileTopicFilter(filter: string): TopicMatcher {
  const problem = validateTopicFilter(filter);
  if (problem !== null) throw new TopicFilterError(filter, problem);
  if (!filter.includes('+') && !filter.includes('#')) return (topic) => topic === filter;

  const levels = filter.split('/');
  const kinds = levels.map((l) => (l === '+' ? WILDCARD_ONE : l === '#' ? WILDCARD_MANY : 0));
  // [MQTT-4.7.2-1] a filter starting with a wildcard must not match a topic starting with '$'.
  const guardDollar = kinds[0] !== 0;
  const n = levels.length;

  return (topic) => {
    if (topic.length === 0) return false; // [MQTT-4.7.3-1]: not a topic name at all.
    if (guardDollar && topic.charCodeAt(0) === DOLLAR) return false;
    let pos = 0; // start of the current topic level; topic.length + 1 once all levels are used.
    for (let i = 0; i < n; i++) {
      const kind = kinds[i];
      // §4.7.1.2: '#' matches the parent level too, so "sport/#" matches "sport".
      if (kind === WILDCARD_MANY) return true;
      if (pos > topic.length) return false;
      let end = topic.indexOf('/', pos);
      if (end === -1) end = topic.length;
      if (kind === 0) {
        const level = levels[i] as string;
        if (end - pos !== level.length || !topic.startsWith(level, pos)) return false;
      }
      // §4.7.1.3: '+' matches any single level, including an empty one.
      pos = end + 1;
    }
    return pos === topic.length + 1;
  };
}

/** Where a pipeline takes the sensor id from (the config's `input.sensor`). */
export type SensorSource =
  | { readonly from: 'topic' }
  | { readonly from: 'level'; readonly level: number }
  | { readonly from: 'field'; readonly field: string };

/**
 * Gives the sensor id of one reading: `topic` is the topic name it arrived on, `payloadSensor`
 * the id the decoder read from the payload (its `sensorField`). Undefined when the id is absent
 * (no such topic level, an empty level, no field): the caller rejects with `missing_field`.
 */
export type SensorIdExtractor = (topic: string, payloadSensor: string | undefined) => string | undefined;

/**
 * Compiles a sensor source. `level` is 0-based; a negative level counts from the end (-1 is the
 * last level). When `filter` is given, a level no topic matching that filter can have is
 * refused up front (SENSOR_SOURCE_INVALID) instead of rejecting every reading later.
 */
export function compileSensorIdExtractor(source: SensorSource, filter?: string): SensorIdExtractor {
  if (filter !== undefined) {
    const invalid = validateTopicFilter(filter);
    if (invalid !== null) throw new TopicFilterError(filter, invalid);
    const problem = sensorSourceProblem(source, filter);
    if (problem !== null) throw new SensorSourceError(problem, filter);
  }
  switch (source.from) {
    case 'topic':
      return (topic) => (topic.length === 0 ? undefined : topic);
    case 'field':
      return (_topic, payloadSensor) => (payloadSensor === '' ? undefined : payloadSensor);
    case 'level': {
      const level = source.level;
      if (!Number.isSafeInteger(level))
        throw new SensorSourceError(`level ${level} is not an integer`, filter);
      return level >= 0 ? (topic) => levelFromStart(topic, level) : (topic) => levelFromEnd(topic, -level);
    }
  }
}

/**
 * Why `source` cannot find a sensor id in topics matching `filter`, or null. Only what is
 * certain is reported: with a trailing '#' a topic can be arbitrarily deep.
 */
export function sensorSourceProblem(source: SensorSource, filter: string): string | null {
  const invalid = validateTopicFilter(filter);
  if (invalid !== null) return invalid;
  if (source.from !== 'level') return null;
  if (!Number.isSafeInteger(source.level)) return `level ${source.level} is not an integer`;
  const levels = filter.split('/');
  const open = levels[levels.length - 1] === '#';
  // "a/#" also matches "a", so only the levels before '#' are certain to exist.
  const certain = open ? levels.length - 1 : levels.length;
  const wanted = source.level >= 0 ? source.level + 1 : -source.level;
  if (!open && wanted > certain) {
    return `level ${source.level} does not exist: every topic matching this filter has exactly ${certain} level(s)`;
  }
  return null;
}

function levelFromStart(topic: string, level: number): string | undefined {
  let start = 0;
  for (let i = 0; i < level; i++) {
    const slash = topic.indexOf('/', start);
    if (slash === -1) return undefined;
    start = slash + 1;
  }
  let end = topic.indexOf('/', start);
  if (end === -1) end = topic.length;
  return end > start ? topic.slice(start, end) : undefined;
}

/** `fromEnd` is 1 for the last level. */
function levelFromEnd(topic: string, fromEnd: number): string | undefined {
  let end = topic.length;
  for (let i = 1; i < fromEnd; i++) {
    if (end === 0) return undefined;
    const slash = topic.lastIndexOf('/', end - 1);
    if (slash === -1) return undefined;
    end = slash;
  }
  const start = end === 0 ? 0 : topic.lastIndexOf('/', end - 1) + 1;
  return end > start ? topic.slice(start, end) : undefined;
}

function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4; // a valid pair (checked before) encodes as 4 bytes
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function loneSurrogateAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return i;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return -1;
}

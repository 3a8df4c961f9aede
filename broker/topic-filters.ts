/**
 * Topic filter algebra (MQTT 3.1.1 §4.7), for the broker's access rules. Filters and topics
 * are handled as arrays of levels; in a filter, a level that is exactly `+` or `#` is a
 * wildcard (no literal level can be either).
 */

// in a filter, a level that is exactly `+` or `#` is a wildcard (no literal level can be either).

const NUL = String.fromCharCode(0);

/** Why `filter` is not a valid topic filter, or null. */
export function filterProblem(filter: string): string | null {
  if (filter.length === 0) return 'is empty [MQTT-4.7.3-1]';
  if (filter.includes(NUL)) return 'contains NUL [MQTT-4.7.3-2]';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return 'has "#" that is not a whole last level [MQTT-4.7.1-2]';
    if (level.includes('+') && level !== '+') return 'has "+" that is not a whole level [MQTT-4.7.1-3]';
  }
  return null;
}

/** Why `topic` is not a valid topic name to publish to, or null. */
export function topicNameProblem(topic: string): string | null {
  if (topic.length === 0) return 'is empty [MQTT-4.7.3-1]';
  if (topic.includes('+') || topic.includes('#')) return 'contains a wildcard [MQTT-3.3.2-2]';
  if (topic.includes(NUL)) return 'contains NUL [MQTT-4.7.3-2]';
  return null;
}

export const isWildcard = (level: string | undefined) => level === '+' || level === '#';
export const startsWithDollar = (levels: readonly string[]) => levels[0]?.startsWith('$') === true;

/** Whether `filter` matches the topic name `topic`. */
export function matchLevels(filter: readonly string[], topic: readonly string[]): boolean {
  // [MQTT-4.7.2-1]: a filter starting with a wildcard matches no topic name starting with `$`.
  if (startsWithDollar(topic) && isWildcard(filter[0])) return false;
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i]!;
    if (f === '#') return true; // `#` also matches the parent level: `a/#` matches `a` (§4.7.1.2)
    const t = topic[i];
    if (t === undefined || (f !== '+' && f !== t)) return false;
  }
  return filter.length === topic.length;
}

/** Whether every topic name `inner` matches is also matched by `outer`. */
export function filterWithin(inner: readonly string[], outer: readonly string[]): boolean {
  // `$x/...` topics escape a leading wildcard of `outer`; a leading wildcard of `inner` never reaches them.
  if (startsWithDollar(inner) && isWildcard(outer[0])) return false;
  for (let i = 0; ; i++) {
    const o = outer[i];
    if (o === undefined) return i === inner.length;
    if (o === '#') return true;
    const n = inner[i];
    // Where inner ends or has `#`, it matches a topic that ends here, which `outer` (needing a
    // level `o` more) does not; `+` in inner is within `+` only. Except at the first level: every
    // topic has one, so `+/#` matches all that `#` does (`#` also matches its parent, §4.7.1.2).
    if (n === '#' && i === 0 && o === '+' && outer[1] === '#') return true;
    if (n === undefined || n === '#') return false;
    if (o !== '+' && n !== o) return false;
  }
}

/** Whether some topic name is matched by both filters. */
export function filtersOverlap(a: readonly string[], b: readonly string[]): boolean {
  if ((startsWithDollar(a) && isWildcard(b[0])) || (startsWithDollar(b) && isWildcard(a[0]))) return false;
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#' || y === '#') return true;
    if (x === undefined || y === undefined) return x === y;
    if (x !== '+' && y !== '+' && x !== y) return false;
  }
}

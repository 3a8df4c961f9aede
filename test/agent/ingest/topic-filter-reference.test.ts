import { describe, expect, it } from 'vitest';
import { compileTopicFilter, validateTopicFilter } from '../../../agent/ingest/topic-filter.js';
import { createRng } from '../../../models/prng.js';

/** A seeded generator (the project's own), so a failure reproduces. */
function random(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng.next();
}

/** The rules of MQTT 3.1.1 §4.7 written the obvious way: split both, compare level by level. */
function referenceMatch(filter: string, topic: string): boolean {
  if (topic.length === 0) return false;
  if ((filter.startsWith('+') || filter.startsWith('#')) && topic.startsWith('$')) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

describe('compileTopicFilter against a naive reference', () => {
  it('agrees on 20,000 seeded random filter/topic pairs', () => {
    const next = random(0x5eed);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
    const names = ['a', 'b', 'ab', '', '$SYS', 'ü', 'a b'];
    const filterLevels = [...names, '+', '+', '#'];
    let checked = 0;
    let matched = 0;
    for (let i = 0; i < 20_000; i++) {
      const filter = Array.from({ length: 1 + Math.floor(next() * 4) }, () => pick(filterLevels)).join('/');
      const topic = Array.from({ length: 1 + Math.floor(next() * 5) }, () => pick(names)).join('/');
      if (validateTopicFilter(filter) !== null) continue;
      const expected = referenceMatch(filter, topic);
      expect(compileTopicFilter(filter)(topic), `${filter} vs ${topic}`).toBe(expected);
      checked++;
      if (expected) matched++;
    }
    // The sample must exercise both outcomes a good deal, or it proves little.
    expect(checked).toBeGreaterThan(5_000);
    expect(matched).toBeGreaterThan(500);
    expect(checked - matched).toBeGreaterThan(500);
  });
});

import { describe, expect, it } from 'vitest';
import { compileTopicFilter, validateTopicFilter } from '../../../agent/ingest/topic-filter.js';
import { hasCode } from '../../../protocol/errors.js';

describe('validateTopicFilter (MQTT 3.1.1 §4.7)', () => {
  it.each([
    'sport/tennis/player1',
    'sport/#',
    '#',
    '+',
    '+/+',
    '/+',
    'sport/+/player1',
    '+/tennis/#',
    '/',
    '//',
    'a b/ü/€/😀',
    '$SYS/#',
  ])('accepts %j', (filter) => {
    expect(validateTopicFilter(filter)).toBeNull();
  });

  it.each([
    ['', /empty/],
    ['sport/tennis#', /"#" with other characters/],
    ['sport/tennis/#/ranking', /"#" is at level 2 but must be the last level/],
    ['#/a', /must be the last level/],
    ['sport+', /"\+" with other characters/],
    ['sport/+tennis', /level 1 \("\+tennis"\)/],
    ['a/++/b', /"\+" with other characters/],
    ['a/\u0000/b', /NUL/],
    ['a/\ud800/b', /unpaired UTF-16 surrogate at index 2/],
    ['\udc00', /unpaired UTF-16 surrogate at index 0/],
  ])('refuses %j', (filter, problem) => {
    expect(validateTopicFilter(filter)).toMatch(problem);
  });

  it('counts the 65535-byte limit in UTF-8 bytes, not characters', () => {
    expect(validateTopicFilter('a'.repeat(65_535))).toBeNull();
    expect(validateTopicFilter('a'.repeat(65_536))).toMatch(
      /65536 bytes long in UTF-8; MQTT allows at most 65535/,
    );
    // 21,846 three-byte characters = 65,538 bytes, although only 21,846 UTF-16 units.
    expect(validateTopicFilter('€'.repeat(21_846))).toMatch(/65538 bytes/);
    // A surrogate pair is one 4-byte character.
    expect(validateTopicFilter('😀'.repeat(16_383))).toBeNull();
    expect(validateTopicFilter('😀'.repeat(16_384))).toMatch(/65536 bytes/);
  });
});

describe('compileTopicFilter', () => {
  it('refuses an invalid filter with a stable code and the filter in the message', () => {
    expect.assertions(3);
    try {
      compileTopicFilter('a/#/b');
    } catch (err) {
      expect(hasCode(err, 'TOPIC_FILTER_INVALID')).toBe(true);
      expect((err as Error).message).toContain('"a/#/b"');
      expect((err as Error).message).toContain('last level');
    }
  });

  // The examples of §4.7.1.2, §4.7.1.3 and §4.7.2, plus the edges around empty levels.
  it.each<[string, string, boolean]>([
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
    ['sport/tennis/player1/#', 'sport/tennis/player2', false],
    ['sport/tennis/player1/#', 'sport/tennis', false],
    ['sport/#', 'sport', true],
    ['sport/#', 'sport/', true],
    ['sport/#', 'sports', false],
    ['#', 'anything/at/all', true],
    ['#', '/', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player2', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+', 'sport', true],
    ['+', '/sport', false],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['+/tennis/#', 'sport/tennis', true],
    ['+/tennis/#', 'sport/tennis/a/b', true],
    ['+/tennis/#', 'sport/golf/a', false],
    ['plant/+/vibration', 'plant/press3/vibration', true],
    ['plant/+/vibration', 'plant/press3/temperature', false],
    ['plant/+/vibration', 'plant/press3/vibration/x', false],
    ['plant/+/vibration', 'plant//vibration', true],
    ['plant/+/vibration', 'plants/press3/vibration', false],
    ['plant/+/vibration', 'plan/press3/vibration', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/', false],
    ['a/b', 'A/b', false],
    ['a//b', 'a//b', true],
    ['a/+/+', 'a/x/y', true],
    ['a/+/+', 'a/x', false],
    ['ü/+/€', 'ü/😀/€', true],
  ])('%j against %j → %s', (filter, topic, expected) => {
    expect(compileTopicFilter(filter)(topic)).toBe(expected);
  });

  describe('[MQTT-4.7.2-1] topics starting with "$"', () => {
    it('are not matched by filters starting with a wildcard', () => {
      expect(compileTopicFilter('#')('$SYS/broker/clients')).toBe(false);
      expect(compileTopicFilter('+/monitor/Clients')('$SYS/monitor/Clients')).toBe(false);
      expect(compileTopicFilter('+/#')('$SYS/x')).toBe(false);
      expect(compileTopicFilter('+')('$SYS')).toBe(false);
    });

    it('are matched by filters that name the "$" level', () => {
      expect(compileTopicFilter('$SYS/#')('$SYS/broker/clients')).toBe(true);
      expect(compileTopicFilter('$SYS/monitor/+')('$SYS/monitor/Clients')).toBe(true);
      expect(compileTopicFilter('$SYS/monitor/Clients')('$SYS/monitor/Clients')).toBe(true);
    });

    it('only applies to a leading "$"', () => {
      expect(compileTopicFilter('#')('a/$SYS')).toBe(true);
      expect(compileTopicFilter('+/+')('a/$b')).toBe(true);
    });
  });

  it('does not match the empty string, which is not a topic name [MQTT-4.7.3-1]', () => {
    expect(compileTopicFilter('#')('')).toBe(false);
    expect(compileTopicFilter('+')('')).toBe(false);
  });

  it('keeps matching correctly when reused for many topics (no state between calls)', () => {
    const match = compileTopicFilter('site/+/line/+/temp');
    const topics = ['site/a/line/1/temp', 'site/a/line/1/hum', 'site/b/line/22/temp', 'site/b/line/temp', ''];
    const first = topics.map(match);
    const second = topics.map(match);
    expect(first).toEqual([true, false, true, false, false]);
    expect(second).toEqual(first);
  });
});

import { describe, expect, it } from 'vitest';
import { compileSensorIdExtractor, sensorSourceProblem } from '../../../agent/ingest/topic-filter.js';
import { hasCode } from '../../../protocol/errors.js';

describe('compileSensorIdExtractor', () => {
  it('takes the whole topic', () => {
    const id = compileSensorIdExtractor({ from: 'topic' });
    expect(id('plant/line1/press3/vibration', undefined)).toBe('plant/line1/press3/vibration');
    expect(id('plant/line1/press3/vibration', 'ignored')).toBe('plant/line1/press3/vibration');
  });

  it('takes the id the decoder found in the payload', () => {
    const id = compileSensorIdExtractor({ from: 'field', field: 'device.id' });
    expect(id('plant/x', 'press3')).toBe('press3');
    expect(id('plant/x', undefined)).toBeUndefined();
    expect(id('plant/x', '')).toBeUndefined();
  });

  it.each<[number, string | undefined]>([
    [0, 'plant'],
    [1, 'line1'],
    [2, 'press3'],
    [3, 'vibration'],
    [4, undefined],
    [99, undefined],
    [-1, 'vibration'],
    [-2, 'press3'],
    [-3, 'line1'],
    [-4, 'plant'],
    [-5, undefined],
  ])('takes level %i of plant/line1/press3/vibration → %j', (level, expected) => {
    expect(
      compileSensorIdExtractor({ from: 'level', level })('plant/line1/press3/vibration', undefined),
    ).toBe(expected);
  });

  it.each<[string, number, string | undefined]>([
    ['single', 0, 'single'],
    ['single', -1, 'single'],
    ['single', 1, undefined],
    ['single', -2, undefined],
    ['/leading', 0, undefined],
    ['/leading', 1, 'leading'],
    ['/leading', -1, 'leading'],
    ['/leading', -2, undefined],
    ['/leading', -3, undefined],
    ['trailing/', -1, undefined],
    ['trailing/', -2, 'trailing'],
    ['trailing/', 0, 'trailing'],
    ['trailing/', 1, undefined],
    ['a//c', 1, undefined],
    ['a//c', -2, undefined],
    ['a//c', 2, 'c'],
    ['/', 0, undefined],
    ['/', -1, undefined],
    ['/', -2, undefined],
  ])('treats an empty or absent level as no id: %j level %i → %j', (topic, level, expected) => {
    expect(compileSensorIdExtractor({ from: 'level', level })(topic, undefined)).toBe(expected);
  });

  it('refuses a fractional level', () => {
    expect(() => compileSensorIdExtractor({ from: 'level', level: 1.5 })).toThrow(
      /level 1.5 is not an integer/,
    );
  });

  it('checks the source against the topic filter once, up front', () => {
    expect.assertions(3);
    try {
      compileSensorIdExtractor({ from: 'level', level: 3 }, 'plant/+/vibration');
    } catch (err) {
      expect(hasCode(err, 'SENSOR_SOURCE_INVALID')).toBe(true);
      expect((err as Error).message).toContain('"plant/+/vibration"');
      expect((err as Error).message).toContain('exactly 3 level(s)');
    }
  });

  it('refuses an invalid filter with the filter error', () => {
    expect(() => compileSensorIdExtractor({ from: 'topic' }, 'a/#/b')).toThrow(
      expect.objectContaining({ code: 'TOPIC_FILTER_INVALID' }),
    );
  });

  it('accepts a level inside the filter', () => {
    const id = compileSensorIdExtractor({ from: 'level', level: 1 }, 'plant/+/vibration');
    expect(id('plant/press3/vibration', undefined)).toBe('press3');
  });
});

describe('sensorSourceProblem', () => {
  it.each<[number, string, boolean]>([
    [0, 'a/+/c', true],
    [2, 'a/+/c', true],
    [3, 'a/+/c', false],
    [-1, 'a/+/c', true],
    [-3, 'a/+/c', true],
    [-4, 'a/+/c', false],
    [5, 'a/#', true], // a topic under '#' can be this deep
    [-5, 'a/#', true],
    [0, '#', true],
  ])('level %i with %j is usable: %s', (level, filter, usable) => {
    expect(sensorSourceProblem({ from: 'level', level }, filter) === null).toBe(usable);
  });

  it('has nothing to say about whole-topic and payload sources', () => {
    expect(sensorSourceProblem({ from: 'topic' }, 'a/b')).toBeNull();
    expect(sensorSourceProblem({ from: 'field', field: 'id' }, 'a/b')).toBeNull();
  });

  it('reports an invalid filter', () => {
    expect(sensorSourceProblem({ from: 'topic' }, '')).toMatch(/empty/);
  });
});

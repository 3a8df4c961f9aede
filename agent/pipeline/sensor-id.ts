import type { SensorSource } from '../config/schema.js';

/**
 * The sensor id of a reading: the whole topic, one level of it (negative levels count from
 * the end, so `-2` of `plant/line1/press3/vibration` is `press3`), or a payload field.
 */
export function sensorIdOf(source: SensorSource, topic: string, fromPayload: string | undefined): string | undefined {
  switch (source.from) {
    case 'topic':
      return topic;
    case 'field':
      return fromPayload;
    case 'level':
      return topicLevel(topic, source.level);
  }
}

function topicLevel(topic: string, level: number): string | undefined {
  const levels = topic.split('/');
  const value = levels.at(level);
  return value === undefined || value === '' ? undefined : value;
}

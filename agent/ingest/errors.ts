import { FieldmeshError } from '../../protocol/errors.js';

/**
 * A decoder spec that can never decode anything (bad field path, a field on a plain-number
 * payload, a non-positive maxBytes). Thrown once, when the pipeline is built, never per message.
 */
export class DecoderSpecError extends FieldmeshError {
  /** Which spec property was wrong, e.g. `field` or `maxBytes`. */
  readonly property: string;

  constructor(property: string, problem: string) {
    super('DECODER_SPEC_INVALID', `decoder spec: ${property} ${problem}`);
    this.property = property;
  }
}

/** A topic filter that breaks MQTT 3.1.1 §4.7, or a sensor source that cannot work with it. */
export class TopicFilterError extends FieldmeshError {
  readonly filter: string;

  constructor(filter: string, problem: string) {
    super('TOPIC_FILTER_INVALID', `topic filter ${JSON.stringify(filter)}: ${problem}`);
    this.filter = filter;
  }
}

/** A sensor source (`input.sensor`) that can never yield an id, e.g. a level the topics lack. */
export class SensorSourceError extends FieldmeshError {
  constructor(problem: string, filter?: string) {
    const where = filter === undefined ? '' : ` with topic filter ${JSON.stringify(filter)}`;
    super('SENSOR_SOURCE_INVALID', `sensor source${where}: ${problem}`);
  }
}

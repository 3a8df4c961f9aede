import { FieldmeshError } from '../../protocol/errors.js';

/** A link setting that can never work; raised by createMqttLink, before any connection. */
export class MqttConfigError extends FieldmeshError {
  readonly field: string;

  constructor(field: string, problem: string) {
    super('MQTT_CONFIG_INVALID', `mqtt.${field} ${problem}`);
    this.field = field;
  }
}

/** The first connection did not come up: refused, unreachable, or not within connectTimeoutMs. */
export class MqttConnectError extends FieldmeshError {
  /** The URL dialled, without credentials. */
  readonly url: string;
  /** The CONNACK return/reason code when the broker answered with a refusal. */
  readonly returnCode: number | undefined;

  constructor(url: string, detail: string, options: { cause?: unknown; returnCode?: number } = {}) {
    super('MQTT_CONNECT_FAILED', `cannot connect to the MQTT broker at ${url}: ${detail}`, {
      cause: options.cause,
    });
    this.url = url;
    this.returnCode = options.returnCode;
  }
}

/** The link was stopped (or never started) when asked to do something. */
export class MqttLinkStoppedError extends FieldmeshError {
  constructor(what: string) {
    super('MQTT_LINK_STOPPED', `${what}: the MQTT link is not running (start it first, or it was stopped)`);
  }
}

/** A QoS 1 PUBLISH the broker did not acknowledge. */
export class MqttPublishError extends FieldmeshError {
  readonly topic: string;

  constructor(topic: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super('MQTT_PUBLISH_FAILED', `publish to ${JSON.stringify(topic)} failed: ${why}`, { cause });
    this.topic = topic;
  }
}

/** Too many QoS 1 publishes await their PUBACK (the broker is slow or gone). */
export class MqttQueueFullError extends FieldmeshError {
  readonly topic: string;

  constructor(topic: string, limit: number) {
    super(
      'MQTT_QUEUE_FULL',
      `publish to ${JSON.stringify(topic)} refused: ${limit} QoS 1 messages already await the broker's ` +
        'acknowledgement; the broker is unreachable or too slow for this rate',
    );
    this.topic = topic;
  }
}

/** The broker refused a subscription (SUBACK 0x80), typically by its ACL. */
export class MqttSubscribeError extends FieldmeshError {
  readonly filter: string;

  constructor(filter: string, detail: string, cause?: unknown) {
    super('MQTT_SUBSCRIBE_FAILED', `subscribe to ${JSON.stringify(filter)} failed: ${detail}`, { cause });
    this.filter = filter;
  }
}

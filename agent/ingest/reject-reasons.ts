/**
 * The closed set of reasons a sensor reading is rejected before it reaches a window. The
 * names are stable: they appear in metrics labels, error-topic payloads, logs and docs, so a
 * reason is never renamed once shipped; a new failure gets a new name.
 */
export const REJECT_REASONS = [
  'malformed_payload',
  'missing_field',
  'not_a_number',
  'non_finite',
  'wrong_length',
  'payload_too_large',
  'unknown_sensor',
  'duplicate',
  'out_of_order',
  'sensor_limit',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export interface RejectReasonInfo {
  /** One line: what happened to the reading. */
  readonly description: string;
  /** One line: what an operator can do about it. */
  readonly hint: string;
}

export const REJECT_REASON_INFO: Readonly<Record<RejectReason, Readonly<RejectReasonInfo>>> = Object.freeze({
  malformed_payload: Object.freeze({
    description: 'The payload could not be parsed in the configured format (JSON, number text or CBOR).',
    hint: 'Check input.format against what the sensor actually publishes (the excerpt shows the first bytes).',
  }),
  missing_field: Object.freeze({
    description:
      'A field the pipeline reads (value, timestamp or sensor id) is absent, or the sensor id is unusable.',
    hint: 'Check input.field, input.timestampField and input.sensor against a real payload and topic.',
  }),
  not_a_number: Object.freeze({
    description:
      'The value is not a number or an array of numbers (e.g. a boolean, null, an object or text).',
    hint: 'Point input.field at the numeric value, or fix the sensor so it publishes numbers.',
  }),
  non_finite: Object.freeze({
    description: 'The value is NaN or ±Infinity, which a model cannot use.',
    hint: 'The sensor reports a fault or an overflow; check the device and its calibration.',
  }),
  wrong_length: Object.freeze({
    description:
      'The reading holds a different number of samples than input.length expects (or none at all).',
    hint: 'Set input.length to what the sensor sends, or remove it to accept any length.',
  }),
  payload_too_large: Object.freeze({
    description: 'The payload is larger than input.maxBytes and was dropped unread.',
    hint: 'Raise input.maxBytes if such payloads are legitimate; otherwise find the device that sends them.',
  }),
  unknown_sensor: Object.freeze({
    description: 'The sensor id is not in the pipeline’s list of accepted sensors (input.sensors).',
    hint: 'Add the sensor id to input.sensors, or check that input.sensor extracts the id you expect.',
  }),
  duplicate: Object.freeze({
    description: 'The reading has the same timestamp as the last one accepted from this sensor.',
    hint: 'Usually a QoS 1 redelivery and harmless; if constant, the sensor’s timestamps lack resolution.',
  }),
  out_of_order: Object.freeze({
    description:
      'The reading is older than the last one accepted from this sensor, so a window would not be causal.',
    hint: 'Check the sensor clock (NTP) and that one sensor id is not shared by several devices.',
  }),
  sensor_limit: Object.freeze({
    description: 'The pipeline already tracks window.maxSensors sensors and will not start a new one.',
    hint: 'Raise window.maxSensors, lower window.staleMs, or narrow input.topic / input.sensors.',
  }),
});

const REASON_SET: ReadonlySet<string> = new Set(REJECT_REASONS);

/** True when `value` names one of the reject reasons (e.g. when reading a metrics label back). */
export function isRejectReason(value: unknown): value is RejectReason {
  return typeof value === 'string' && REASON_SET.has(value);
}

import type { RejectReasonInfo } from './reject-reasons.js';

/**
 * Reject reasons only a Sparkplug B input has. Garbage bytes, null or non-numeric metrics and
 * NaN reuse the general reasons (`malformed_payload`, `not_a_number`, `non_finite`); these
 * name what is particular to Sparkplug's stateful session. Like the general reasons they are
 * stable names (metrics labels, error topic, docs): never renamed once shipped.
 */
export const SPARKPLUG_REJECT_REASONS = [
  'sparkplug_bad_topic',
  'sparkplug_no_birth',
  'sparkplug_unknown_metric',
  'sparkplug_stale',
] as const;

export type SparkplugRejectReason = (typeof SPARKPLUG_REJECT_REASONS)[number];

export const SPARKPLUG_REJECT_REASON_INFO: Readonly<
  Record<SparkplugRejectReason, Readonly<RejectReasonInfo>>
> = Object.freeze({
  sparkplug_bad_topic: Object.freeze({
    description:
      'The topic is in the Sparkplug namespace but not of the form spBv1.0/<group>/<type>/<edge node>[/<device>].',
    hint: 'Find the publisher of that topic; it is not a Sparkplug B edge node, or a misconfigured one.',
  }),
  sparkplug_no_birth: Object.freeze({
    description:
      'Data (or a DBIRTH) came from an edge node or device whose birth this pipeline has not seen, so its metrics are unknown.',
    hint: 'Normal right after the agent starts; with input.sparkplug.rebirth on, the node is asked to rebirth and data follows.',
  }),
  sparkplug_unknown_metric: Object.freeze({
    description: "A data metric's alias (or name) was not defined in the edge node's or device's birth.",
    hint: 'The edge node changed its metrics without a new birth; a rebirth is requested when input.sparkplug.rebirth is on.',
  }),
  sparkplug_stale: Object.freeze({
    description:
      'A message from an edge node whose sequence numbers showed a gap; its aliases can no longer be trusted until it rebirths.',
    hint: 'Messages were lost (QoS 0, a reconnect); with input.sparkplug.rebirth on the node is asked to rebirth.',
  }),
});

import type { PipelineConfig } from '../config/schema.js';
import type { RejectReason } from '../ingest/reject-reasons.js';
import { rebirthCommand } from '../ingest/sparkplug-codec.js';
import type { SparkplugRejectReason } from '../ingest/sparkplug-reasons.js';
import {
  type RebirthRequest,
  type SparkplugSessionCounters,
  SparkplugSessions,
} from '../ingest/sparkplug-sessions.js';
import { rebirthTopic, sparkplugFilterProblem } from '../ingest/sparkplug-topic.js';
import type { Logger } from '../log.js';

/**
 * A pipeline's Sparkplug B input: the pure session tracker (agent/ingest/sparkplug-sessions.ts)
 * wired to the pipeline's windows, its error reporter and the MQTT link, which carries the
 * rebirth requests (NCMD) a primary host sends when it lost track of an edge node.
 */

/** Every reason a Sparkplug pipeline reports a reading rejected for. */
export type ReportedReason = RejectReason | SparkplugRejectReason;

/** Why a reading was refused (the reason, and what was found where), as the pipeline reports it. */
export type Refusal = readonly [ReportedReason, string];

export interface SparkplugInputInit {
  readonly metrics: readonly string[];
  readonly maxBytes: number;
  readonly maxEdgeNodes: number;
  /** Send NCMD Node Control/Rebirth when a node's stream is broken or unknown. */
  readonly rebirth: boolean;
  /** Least time between two rebirth requests to one edge node. */
  readonly rebirthIntervalMs: number;
}

export interface SparkplugInputComponents {
  /** Hands one sample to the pipeline's windows; returns why it was refused, or null. */
  readonly admit: (
    sensor: string,
    ts: number | undefined,
    values: number[],
    arrivedAt: number,
  ) => Refusal | null;
  readonly reject: (reason: ReportedReason, topic: string, detail: string) => void;
  /** QoS 0 publish (NCMD is QoS 0 in Sparkplug 3.0). */
  readonly publish: (topic: string, payload: Uint8Array) => void;
  readonly now: () => number;
  readonly logger: Logger;
}

export interface SparkplugInputStats extends SparkplugSessionCounters {
  /** NCMD Node Control/Rebirth messages sent. */
  rebirthsRequested: number;
}

/** Rate-limit entries kept at most; the oldest go first (a flood of bogus node ids cannot grow it). */
const MAX_REBIRTH_ENTRIES = 10_000;

export class SparkplugInput {
  private readonly sessions: SparkplugSessions;
  private readonly lastRebirth = new Map<string, number>();
  private rebirthsRequested = 0;

  constructor(
    private readonly init: SparkplugInputInit,
    private readonly components: SparkplugInputComponents,
  ) {
    this.sessions = new SparkplugSessions(init);
  }

  /**
   * One message on the input filter. A message holds many metrics, so rejects are reported
   * here, one by one, and null is returned. Never throws on bad input.
   */
  ingest(topic: string, payload: Uint8Array): null {
    const arrivedAt = performance.now();
    const outcome = this.sessions.handle(topic, payload);
    for (const r of outcome.rejects) this.components.reject(r.reason, topic, r.detail);
    for (const s of outcome.samples) {
      const refused = this.components.admit(s.sensor, s.ts, [s.value], arrivedAt);
      if (refused) this.components.reject(refused[0], topic, refused[1]);
    }
    if (outcome.rebirth && this.init.rebirth) this.requestRebirth(outcome.rebirth);
    return null;
  }

  stats(): SparkplugInputStats {
    return { ...this.sessions.counters(), rebirthsRequested: this.rebirthsRequested };
  }

  private requestRebirth(request: RebirthRequest): void {
    const key = `${request.group}/${request.edgeNode}`;
    const now = this.components.now();
    const last = this.lastRebirth.get(key);
    if (last !== undefined && now - last < this.init.rebirthIntervalMs) return;
    this.lastRebirth.delete(key); // re-inserted last: Map order is then oldest request first
    this.lastRebirth.set(key, now);
    if (this.lastRebirth.size > MAX_REBIRTH_ENTRIES) {
      const oldest = this.lastRebirth.keys().next().value;
      if (oldest !== undefined) this.lastRebirth.delete(oldest);
    }
    this.rebirthsRequested++;
    this.components.logger.info({ edgeNode: key, why: request.why }, 'Sparkplug rebirth requested');
    this.components.publish(rebirthTopic(request.group, request.edgeNode), rebirthCommand(now));
  }
}

/**
 * What in a pipeline's input section cannot work with (or without) format sparkplug, or null.
 * Checked when the pipeline is built, so a bad file fails at start, not once per message.
 */
export function sparkplugInputProblem(input: PipelineConfig['input']): string | null {
  if (input.format !== 'sparkplug') {
    return input.sparkplug === undefined
      ? null
      : `input.sparkplug is set but input.format is "${input.format}"; set input.format: sparkplug or remove input.sparkplug`;
  }
  if (input.sparkplug === undefined) {
    return 'input.format is sparkplug but input.sparkplug is missing; list the metrics to read in input.sparkplug.metrics';
  }
  for (const key of ['field', 'timestampField'] as const) {
    if (input[key] !== undefined) {
      return `input.${key} is set, but a Sparkplug payload has metrics, not fields; remove it and name metrics in input.sparkplug.metrics`;
    }
  }
  if (input.sensor.from !== 'topic') {
    return 'input.sensor is set, but Sparkplug sensor ids are always <group>/<edge node>/<device>/<metric>; remove input.sensor';
  }
  if (input.length !== undefined && input.length !== 1) {
    return `input.length is ${input.length}, but each Sparkplug metric is one sample; remove input.length`;
  }
  const filter = sparkplugFilterProblem(input.topic);
  return filter === null ? null : `input.topic "${input.topic}" ${filter}`;
}

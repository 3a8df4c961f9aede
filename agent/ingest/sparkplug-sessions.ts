import type { RejectReason } from './reject-reasons.js';
import {
  BDSEQ_METRIC,
  decodeSparkplug,
  integerText,
  numericValue,
  type SparkplugMessage,
  type SparkplugMetric,
} from './sparkplug-codec.js';
import type { SparkplugRejectReason } from './sparkplug-reasons.js';
import { type EdgeTopic, parseSparkplugTopic, sparkplugSensorId } from './sparkplug-topic.js';
import { payloadExcerpt } from './values.js';

/**
 * The host-application side of Sparkplug B (3.0 §5, §7): what each edge node has declared in
 * its births, and whether its stream is still whole. Pure: messages in, samples, rejects and
 * rebirth requests out; the caller does the I/O.
 *
 * - NBIRTH starts a session: the node's metric names, aliases and datatypes, its bdSeq, seq 0.
 *   It also forgets the node's devices (they rebirth after it).
 * - DBIRTH, NDATA, DDATA, DDEATH carry seq, one more than the last (mod 256). A gap marks the
 *   node stale: its messages are rejected until its next NBIRTH, and a rebirth is requested.
 * - NDEATH forgets the node only when its bdSeq is the birth's; an older session's will
 *   arriving late is counted and ignored. DDEATH forgets the device.
 * - DATA metrics are matched by alias (or name) with the birth; the birth's datatype reads
 *   the value. Unknown metrics and data from nodes never born are rejected and ask a rebirth.
 */

export interface SparkplugSample {
  readonly sensor: string;
  readonly value: number;
  /** The metric's timestamp, else the payload's; undefined if neither is set. */
  readonly ts: number | undefined;
}

export interface SparkplugReject {
  readonly reason: RejectReason | SparkplugRejectReason;
  readonly detail: string;
}

export interface RebirthRequest {
  readonly group: string;
  readonly edgeNode: string;
  readonly why: string;
}

export interface SparkplugOutcome {
  readonly samples: SparkplugSample[];
  readonly rejects: SparkplugReject[];
  readonly rebirth: RebirthRequest | undefined;
}

export interface SparkplugSessionCounters {
  /** Edge nodes with a live session now. */
  edgeNodes: number;
  births: number;
  deaths: number;
  /** NDEATHs whose bdSeq was not the current birth's (an old session's will): ignored. */
  staleDeaths: number;
  /** Sequence gaps seen; each one made its node stale. */
  seqGaps: number;
  /** Messages with the same seq as the one before (a QoS 1 redelivery): ignored. */
  duplicates: number;
}

export interface SparkplugSessionsInit {
  /** Metric names whose values become samples; others are tracked (aliases) but not read. */
  readonly metrics: readonly string[];
  readonly maxBytes: number;
  /** Bound on edge nodes tracked at once; a birth past it is rejected as `sensor_limit`. */
  readonly maxEdgeNodes: number;
}

interface MetricDef {
  readonly name: string;
  readonly datatype: number;
}

interface Scope {
  readonly byAlias: Map<string, MetricDef>;
  readonly byName: Map<string, MetricDef>;
}

interface EdgeNodeSession {
  readonly bdSeq: string | undefined;
  seq: number;
  stale: boolean;
  readonly node: Scope;
  readonly devices: Map<string, Scope>;
}

const NOTHING: SparkplugOutcome = Object.freeze({ samples: [], rejects: [], rebirth: undefined });

export class SparkplugSessions {
  private readonly wanted: ReadonlySet<string>;
  private readonly sessions = new Map<string, EdgeNodeSession>();
  private readonly count = { births: 0, deaths: 0, staleDeaths: 0, seqGaps: 0, duplicates: 0 };

  constructor(private readonly init: SparkplugSessionsInit) {
    this.wanted = new Set(init.metrics);
  }

  counters(): SparkplugSessionCounters {
    return { edgeNodes: this.sessions.size, ...this.count };
  }

  /** One MQTT message of the namespace; never throws on bad input. */
  handle(topicName: string, payload: Uint8Array): SparkplugOutcome {
    if (payload.length > this.init.maxBytes) {
      return rejected(
        'payload_too_large',
        `payload is ${payload.length} bytes; the limit (maxBytes) is ${this.init.maxBytes}`,
      );
    }
    const topic = parseSparkplugTopic(topicName);
    if (topic.kind === 'ignored') return NOTHING;
    if (topic.kind === 'invalid') return rejected('sparkplug_bad_topic', `topic ${topic.problem}`);
    const msg = decodeSparkplug(payload);
    if (typeof msg === 'string') {
      return rejected('malformed_payload', `payload is not Sparkplug B (${msg}): ${payloadExcerpt(payload)}`);
    }
    switch (topic.type) {
      case 'NBIRTH':
        return this.nodeBirth(topic, msg);
      case 'NDEATH':
        return this.nodeDeath(topic, msg);
      default:
        return this.sequenced(topic, msg);
    }
  }

  private nodeBirth(topic: EdgeTopic, msg: SparkplugMessage): SparkplugOutcome {
    const key = `${topic.group}/${topic.edgeNode}`;
    if (!this.sessions.has(key) && this.sessions.size >= this.init.maxEdgeNodes) {
      return rejected(
        'sensor_limit',
        `NBIRTH of edge node "${key}" refused: ${this.init.maxEdgeNodes} edge nodes are tracked already`,
      );
    }
    const bdSeqMetric = msg.metrics.find((m) => m.name === BDSEQ_METRIC);
    const out = emptyOutcome();
    const session: EdgeNodeSession = {
      bdSeq: bdSeqMetric === undefined ? undefined : integerText(bdSeqMetric),
      seq: msg.seq ?? 0,
      stale: false,
      node: this.defineScope(topic, msg, out),
      devices: new Map(),
    };
    this.sessions.set(key, session);
    this.count.births++;
    return out;
  }

  private nodeDeath(topic: EdgeTopic, msg: SparkplugMessage): SparkplugOutcome {
    const key = `${topic.group}/${topic.edgeNode}`;
    const session = this.sessions.get(key);
    if (session === undefined) return NOTHING;
    const bdSeqMetric = msg.metrics.find((m) => m.name === BDSEQ_METRIC);
    const bdSeq = bdSeqMetric === undefined ? undefined : integerText(bdSeqMetric);
    // [Sparkplug 3.0 tck-id-operational-behavior-edge-node-intial-establishment]: the will
    // carries the bdSeq of the NBIRTH it belongs to; any other is an earlier session's.
    if (session.bdSeq !== undefined && bdSeq !== undefined && bdSeq !== session.bdSeq) {
      this.count.staleDeaths++;
      return NOTHING;
    }
    this.sessions.delete(key);
    this.count.deaths++;
    return NOTHING;
  }

  /** DBIRTH, DDEATH, NDATA, DDATA: a live, whole session first, then the message itself. */
  private sequenced(topic: EdgeTopic, msg: SparkplugMessage): SparkplugOutcome {
    const key = `${topic.group}/${topic.edgeNode}`;
    const session = this.sessions.get(key);
    const where = topic.device === undefined ? `edge node "${key}"` : `device "${key}/${topic.device}"`;
    if (session === undefined) {
      return withRebirth(topic, 'sparkplug_no_birth', `${topic.type} from ${where} before its NBIRTH`);
    }
    if (session.stale) {
      return withRebirth(topic, 'sparkplug_stale', `${topic.type} from ${where}, stale since a sequence gap`);
    }
    if (msg.seq !== undefined) {
      const expected = (session.seq + 1) % 256;
      if (msg.seq === session.seq) {
        this.count.duplicates++;
        return NOTHING;
      }
      if (msg.seq !== expected) {
        session.stale = true;
        this.count.seqGaps++;
        const gap = `seq ${msg.seq} after ${session.seq} (expected ${expected}): messages were lost`;
        return withRebirth(topic, 'sparkplug_stale', `${topic.type} from ${where}: ${gap}`);
      }
      session.seq = msg.seq;
    }
    return this.apply(topic, msg, session, where);
  }

  private apply(
    topic: EdgeTopic,
    msg: SparkplugMessage,
    session: EdgeNodeSession,
    where: string,
  ): SparkplugOutcome {
    const device = topic.device;
    if (topic.type === 'DBIRTH' && device !== undefined) {
      const out = emptyOutcome();
      session.devices.set(device, this.defineScope(topic, msg, out));
      return out;
    }
    if (topic.type === 'DDEATH' && device !== undefined) {
      session.devices.delete(device);
      return NOTHING;
    }
    const scope = device === undefined ? session.node : session.devices.get(device);
    if (scope === undefined) {
      return withRebirth(topic, 'sparkplug_no_birth', `${topic.type} from ${where} before its DBIRTH`);
    }
    const out = emptyOutcome();
    for (const metric of msg.metrics) {
      const def =
        metric.alias === undefined ? scope.byName.get(metric.name ?? '') : scope.byAlias.get(metric.alias);
      if (def === undefined) {
        const which = metric.alias === undefined ? `name "${metric.name ?? ''}"` : `alias ${metric.alias}`;
        out.rejects.push({
          reason: 'sparkplug_unknown_metric',
          detail: `${topic.type} from ${where}: metric ${which} is not in its birth`,
        });
        out.rebirth ??= { group: topic.group, edgeNode: topic.edgeNode, why: 'sparkplug_unknown_metric' };
        continue;
      }
      this.read(topic, msg, metric, def, out);
    }
    return out;
  }

  /** A birth's metric definitions; the values it carries are samples like any others. */
  private defineScope(topic: EdgeTopic, msg: SparkplugMessage, out: MutableOutcome): Scope {
    const scope: Scope = { byAlias: new Map(), byName: new Map() };
    for (const metric of msg.metrics) {
      if (metric.name === undefined || metric.datatype === undefined) {
        out.rejects.push({
          reason: 'malformed_payload',
          detail: `${topic.type} metric ${metric.name ?? `alias ${metric.alias ?? '?'}`} lacks a name or a datatype`,
        });
        continue;
      }
      const def: MetricDef = { name: metric.name, datatype: metric.datatype };
      scope.byName.set(def.name, def);
      if (metric.alias !== undefined) scope.byAlias.set(metric.alias, def);
      this.read(topic, msg, metric, def, out);
    }
    return scope;
  }

  private read(
    topic: EdgeTopic,
    msg: SparkplugMessage,
    metric: SparkplugMetric,
    def: MetricDef,
    out: MutableOutcome,
  ): void {
    if (!this.wanted.has(def.name)) return;
    const sensor = sparkplugSensorId(topic.group, topic.edgeNode, topic.device, def.name);
    const value = numericValue(metric, def.datatype);
    if (typeof value === 'number') {
      out.samples.push({ sensor, value, ts: metric.timestamp ?? msg.timestamp });
    } else {
      out.rejects.push({
        reason: value.problem,
        detail: `${topic.type} metric of sensor "${sensor}" holds ${value.found}`,
      });
    }
  }
}

interface MutableOutcome {
  samples: SparkplugSample[];
  rejects: SparkplugReject[];
  rebirth: RebirthRequest | undefined;
}

function emptyOutcome(): MutableOutcome {
  return { samples: [], rejects: [], rebirth: undefined };
}

function rejected(reason: SparkplugReject['reason'], detail: string): SparkplugOutcome {
  return { samples: [], rejects: [{ reason, detail }], rebirth: undefined };
}

function withRebirth(topic: EdgeTopic, reason: SparkplugRejectReason, detail: string): SparkplugOutcome {
  return {
    samples: [],
    rejects: [{ reason, detail }],
    rebirth: { group: topic.group, edgeNode: topic.edgeNode, why: reason },
  };
}

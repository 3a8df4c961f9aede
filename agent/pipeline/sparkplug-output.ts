import {
  BDSEQ_METRIC,
  encodeSparkplugPayload,
  isRebirthCommand,
  REBIRTH_METRIC,
  type SparkplugPayloadInput,
} from '../ingest/sparkplug-codec.js';
import { SPARKPLUG_NAMESPACE } from '../ingest/sparkplug-topic.js';
import type { Logger } from '../log.js';
import type { MqttLink } from '../mqtt/link.js';
import type { InferenceResult } from './result.js';

/**
 * Results as a Sparkplug B edge node (Sparkplug 3.0 §5): one edge node per pipeline, one device
 * holding a metric folder per sensor (`<sensor>/score`, `/anomaly`, `/label`, `/confidence`,
 * `/windowEnd`). NBIRTH at start; NBIRTH and DBIRTH again on every reconnect (new bdSeq) and on
 * an NCMD Node Control/Rebirth (same bdSeq); a new DBIRTH whenever a sensor appears (the first
 * result), because births must declare every metric; DDATA by alias only; DDEATH, NDEATH on stop.
 *
 * Limitation: the NDEATH should also be the connection's MQTT will, but the agent's one link
 * carries the node record's will; a SCADA host sees a crash as silence, not as an NDEATH.
 */

type Metric = NonNullable<SparkplugPayloadInput['metrics']>[number];

export interface SparkplugOutputInit {
  readonly group: string;
  readonly edgeNode: string;
  readonly device: string;
}

export interface SparkplugOutputComponents {
  readonly link: MqttLink;
  readonly logger: Logger;
  readonly now: () => number;
}

/** Metric suffixes per sensor, in alias order. */
const FIELDS = [
  ['score', 'Double'],
  ['anomaly', 'Boolean'],
  ['label', 'String'],
  ['confidence', 'Double'],
  ['windowEnd', 'DateTime'],
] as const;
/** Aliases per sensor: room for the fields above and a few more without renumbering. */
const ALIAS_STRIDE = 8;
const STOP_WAIT_MS = 2000;

interface SensorMetrics {
  readonly aliasBase: number;
  last: InferenceResult | undefined;
}

export class SparkplugOutput {
  private readonly sensors = new Map<string, SensorMetrics>();
  private readonly ncmdTopic: string;
  private bdSeq = 0;
  private seq = 0;
  private running = false;
  private readonly onConnected = () => {
    // A new MQTT session is a new Sparkplug session: new bdSeq, births again [tck-id-topics-nbirth-bdseq-increment].
    this.bdSeq = (this.bdSeq + 1) % 256;
    this.publishBirths();
  };

  constructor(
    private readonly init: SparkplugOutputInit,
    private readonly components: SparkplugOutputComponents,
  ) {
    this.ncmdTopic = this.topic('NCMD');
  }

  async start(): Promise<void> {
    await this.components.link.subscribe(this.ncmdTopic, 1, (_topic, payload) => this.onCommand(payload));
    this.components.link.on('connected', this.onConnected);
    this.running = true;
    this.publishBirths();
  }

  /** DDEATH then NDEATH (QoS 1, waited for within a bound); the host then marks every metric stale. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const { link } = this.components;
    link.off('connected', this.onConnected);
    if (this.sensors.size > 0) link.publishFast(this.topic('DDEATH', true), this.payload([], true));
    const death = encodeSparkplugPayload({
      timestamp: this.components.now(),
      metrics: [{ name: BDSEQ_METRIC, type: 'Int64', value: this.bdSeq }],
    });
    await withinMs(link.publish(this.topic('NDEATH'), death, { qos: 1 }), STOP_WAIT_MS).catch((err: Error) =>
      this.components.logger.warn({ err: err.message }, 'Sparkplug NDEATH not acknowledged'),
    );
    await link.unsubscribe(this.ncmdTopic).catch(() => undefined);
  }

  /** One result; a sensor seen for the first time makes a new DBIRTH that carries it. */
  publish(result: InferenceResult): void {
    if (!this.running) return;
    let sensor = this.sensors.get(result.sensor);
    if (sensor === undefined) {
      sensor = { aliasBase: this.sensors.size * ALIAS_STRIDE, last: result };
      this.sensors.set(result.sensor, sensor);
      this.publishDeviceBirth();
      return;
    }
    sensor.last = result;
    const metrics = this.metricsOf(result.sensor, sensor, false);
    this.components.link.publishFast(this.topic('DDATA', true), this.payload(metrics, true));
  }

  private publishBirths(): void {
    if (!this.running) return;
    this.seq = 0;
    const nodeMetrics: Metric[] = [
      { name: BDSEQ_METRIC, type: 'Int64', value: this.bdSeq },
      { name: REBIRTH_METRIC, type: 'Boolean', value: false },
    ];
    // [tck-id-payloads-nbirth-seq] NBIRTH carries seq 0; the next message carries 1.
    this.components.link.publishFast(this.topic('NBIRTH'), this.payload(nodeMetrics, false));
    this.publishDeviceBirth();
  }

  /** Not before the first result: a device is born with at least one sensor's metrics. */
  private publishDeviceBirth(): void {
    if (this.sensors.size === 0) return;
    const metrics: Metric[] = [];
    for (const [name, sensor] of this.sensors) metrics.push(...this.metricsOf(name, sensor, true));
    this.components.link.publishFast(this.topic('DBIRTH', true), this.payload(metrics, true));
  }

  /**
   * A sensor's metrics: in a birth every field with name, alias and datatype (null when the
   * model gives no such value); in data only the fields the result has, by alias.
   */
  private metricsOf(name: string, sensor: SensorMetrics, birth: boolean): Metric[] {
    const out: Metric[] = [];
    const r = sensor.last;
    const values: Record<(typeof FIELDS)[number][0], number | boolean | string | undefined> = {
      score: r?.score,
      anomaly: r?.anomaly,
      label: r?.label,
      confidence: r?.confidence,
      windowEnd: r?.window.end,
    };
    FIELDS.forEach(([field, type], i) => {
      const value = values[field];
      if (!birth && value === undefined) return;
      const metric: Metric = { alias: sensor.aliasBase + i + 1, type, value: value ?? null };
      if (birth) metric.name = `${name}/${field}`;
      if (r !== undefined) metric.timestamp = r.window.end;
      out.push(metric);
    });
    return out;
  }

  /** Encodes with the next seq (0–255, wrapping) when `sequenced`; NBIRTH resets to 0 itself. */
  private payload(metrics: Metric[], sequenced: boolean): Uint8Array {
    if (sequenced) this.seq = (this.seq + 1) % 256;
    const seq = sequenced ? this.seq : 0;
    return encodeSparkplugPayload({ timestamp: this.components.now(), seq, metrics });
  }

  private onCommand(bytes: Uint8Array): void {
    const rebirth = isRebirthCommand(bytes);
    if (typeof rebirth === 'string') {
      this.components.logger.warn(
        { topic: this.ncmdTopic, err: rebirth },
        'Sparkplug NCMD ignored: not a Sparkplug B payload; check what the SCADA host sends',
      );
      return;
    }
    if (!rebirth) return;
    this.components.logger.info({ edgeNode: this.init.edgeNode }, 'Sparkplug rebirth requested by a host');
    this.publishBirths();
  }

  private topic(type: 'NBIRTH' | 'NDEATH' | 'NCMD' | 'DBIRTH' | 'DDATA' | 'DDEATH', device = false): string {
    const base = `${SPARKPLUG_NAMESPACE}/${this.init.group}/${type}/${this.init.edgeNode}`;
    return device ? `${base}/${this.init.device}` : base;
  }
}

function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no PUBACK within ${ms} ms`)), ms);
    timer.unref();
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

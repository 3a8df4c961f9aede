import mqtt, { type MqttClient } from 'mqtt';
import type { Topics } from '../../protocol/topics.js';
import type { ErrorReport } from '../pipeline/error-reporter.js';
import type { InferenceResult } from '../pipeline/result.js';
import { brokerOptions } from './simulator.js';

export interface SensorView {
  score: number;
  threshold: number | undefined;
  anomaly: boolean;
  results: number;
  anomalies: number;
  latencyMs: number;
  /** Normal windows in a row since the last anomalous one. */
  calm: number;
}

/** Normal windows in a row that end an anomaly episode; shorter dips belong to the same one. */
const EPISODE_END = 8;

export interface Detection {
  at: number;
  machine: string;
  pipeline: string;
  score: number;
  threshold: number;
}

export interface ViewState {
  machines: Map<string, Map<string, SensorView>>;
  results: number;
  anomalies: number;
  rejected: Map<string, number>;
  detections: Detection[];
  /** Results a peer computed, by the peer's node id (`ranOn`); the rest ran on their own node. */
  ranOn: Map<string, number>;
}

/**
 * What an operator watching the site's MQTT sees: results and rejections, gathered from the
 * broker like any other subscriber would, not read from the agent's memory.
 */
export class LiveView {
  private client: MqttClient | null = null;
  readonly state: ViewState = {
    machines: new Map(),
    results: 0,
    anomalies: 0,
    rejected: new Map(),
    detections: [],
    ranOn: new Map(),
  };

  constructor(
    private readonly init: { url: string; topics: Topics; machineOf: (sensor: string) => string },
  ) {}

  async start(): Promise<void> {
    const client = await mqtt.connectAsync({
      ...brokerOptions(this.init.url),
      clientId: `fieldmesh-demo-view-${process.pid}`,
      clean: true,
    });
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    await client.subscribeAsync([this.init.topics.results('+'), this.init.topics.errors('+')], { qos: 0 });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
  }

  private onMessage(topic: string, payload: Buffer): void {
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString('utf8'));
    } catch {
      return; // not ours to judge: the view only shows what it understands
    }
    if (topic.endsWith('/errors')) {
      const r = doc as ErrorReport;
      this.state.rejected.set(r.reason, r.total);
      return;
    }
    this.onResult(doc as InferenceResult);
  }

  private onResult(r: InferenceResult): void {
    const s = this.state;
    const machine = this.init.machineOf(r.sensor);
    let sensors = s.machines.get(machine);
    if (!sensors) {
      sensors = new Map();
      s.machines.set(machine, sensors);
    }
    const prev = sensors.get(r.pipeline);
    const anomaly = r.anomaly === true;
    sensors.set(r.pipeline, {
      score: r.score ?? 0,
      threshold: r.threshold,
      anomaly,
      results: (prev?.results ?? 0) + 1,
      anomalies: (prev?.anomalies ?? 0) + (anomaly ? 1 : 0),
      latencyMs: r.latencyMs,
      calm: anomaly ? 0 : (prev?.calm ?? EPISODE_END) + 1,
    });
    s.results++;
    if (r.ranOn !== undefined) s.ranOn.set(r.ranOn, (s.ranOn.get(r.ranOn) ?? 0) + 1);
    if (!anomaly) return;
    s.anomalies++;
    // One line per episode: anomalous windows on one sensor, with short calm dips, are one detection.
    if ((prev?.calm ?? EPISODE_END) >= EPISODE_END) {
      s.detections.push({
        at: r.ts,
        machine,
        pipeline: r.pipeline,
        score: r.score ?? 0,
        threshold: r.threshold ?? 0,
      });
      if (s.detections.length > 50) s.detections.shift();
    }
  }
}

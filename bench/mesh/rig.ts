import mqtt, { type MqttClient } from 'mqtt';
import { percentile } from '../lib/report.js';
import { HEAVY_WIDTH } from './model.js';

/** Where a pipeline of node A publishes its results (the default result topic). */
const RESULTS = 'fieldmesh/v1/pipelines/+/results';
const SENSORS = 16;

export interface ClosedLoopResult {
  windowsPerS: number;
  /** Share of the counted windows a peer ran. */
  offloadedShare: number;
}

export interface PacedResult {
  p50Ms: number;
  p99Ms: number;
  received: number;
  expected: number;
  offloadedShare: number;
}

/**
 * The load of the mesh suite, from the root namespace: every message is one whole window
 * (HEAVY_WIDTH samples, JSON `{"ts","v"}`, stride = window), so reading and decoding cost the
 * agent little beside the model. Sensor names are fresh per run: no run inherits a window.
 */
export class MeshRig {
  private pub: MqttClient | null = null;
  private sub: MqttClient | null = null;
  private readonly samples = Array.from({ length: HEAVY_WIDTH }, (_, i) => Math.sin(i / 7).toFixed(4)).join(
    ',',
  );
  private sentAt = new Map<string, number>();
  private onResult: (key: string, at: number, ranOn: boolean) => void = () => undefined;
  private runId = 0;
  private tsBase = Date.now();

  constructor(private readonly url: string) {}

  async start(): Promise<void> {
    this.pub = await connect(this.url, 'bench-mesh-load');
    this.sub = await connect(this.url, 'bench-mesh-results');
    this.sub.on('message', (_topic, payload) => {
      const at = performance.now();
      const r = JSON.parse(payload.toString()) as { sensor: string; window: { end: number }; ranOn?: string };
      this.onResult(`${r.sensor}|${r.window.end}`, at, r.ranOn !== undefined);
    });
    await this.sub.subscribeAsync(RESULTS, { qos: 1 });
  }

  async stop(): Promise<void> {
    await Promise.all([this.pub?.endAsync(), this.sub?.endAsync()]);
  }

  /** A publisher of windows on `bench/<pipeline>/r<run>-s<i>`, keyed as results name them. */
  private sender(pipeline: string): () => string {
    this.runId++;
    this.tsBase += 10_000_000;
    const counts = new Array<number>(SENSORS).fill(0);
    const run = this.runId;
    const base = this.tsBase;
    let next = 0;
    return () => {
      const s = next;
      next = (next + 1) % SENSORS;
      const n = (counts[s] as number) + 1;
      counts[s] = n;
      const topic = `bench/${pipeline}/r${run}-s${s}`;
      const key = `${topic}|${base + n}`;
      this.sentAt.set(key, performance.now());
      (this.pub as MqttClient).publish(topic, `{"ts":${base + n},"v":[${this.samples}]}`, { qos: 0 });
      return key;
    };
  }

  /**
   * Saturation: keeps `outstanding` windows published and not yet answered, so the pipeline's
   * queue never runs dry and never grows past that; counts results after `warmupMs`.
   */
  async closedLoop(
    pipeline: string,
    outstanding: number,
    warmupMs: number,
    measureMs: number,
  ): Promise<ClosedLoopResult> {
    const send = this.sender(pipeline);
    this.sentAt.clear();
    let counted = 0;
    let offloaded = 0;
    const started = performance.now();
    const from = started + warmupMs;
    const until = from + measureMs;
    let last = performance.now();
    this.onResult = (key, at, ranOn) => {
      if (!this.sentAt.delete(key)) return;
      last = at;
      if (at >= from && at < until) {
        counted++;
        if (ranOn) offloaded++;
      }
      if (at < until) send();
    };
    for (let i = 0; i < outstanding; i++) send();
    while (performance.now() < until) {
      await sleep(50);
      // A window lost on the way (QoS 0 input) must not shrink the load for good.
      if (performance.now() - last > 2_000) throw new Error(`${pipeline}: no result for 2 s`);
    }
    await this.settle(3_000);
    return { windowsPerS: counted / (measureMs / 1000), offloadedShare: offloaded / Math.max(1, counted) };
  }

  /** Latency: `rate` windows per second for `durationMs`; publish → result, after `warmupMs`. */
  async paced(pipeline: string, rate: number, warmupMs: number, durationMs: number): Promise<PacedResult> {
    const send = this.sender(pipeline);
    this.sentAt.clear();
    const latencies: number[] = [];
    let offloaded = 0;
    let expected = 0;
    const measured = new Set<string>();
    this.onResult = (key, at, ranOn) => {
      const t = this.sentAt.get(key);
      if (t === undefined || !this.sentAt.delete(key) || !measured.has(key)) return;
      latencies.push(at - t);
      if (ranOn) offloaded++;
    };
    const started = performance.now();
    let sent = 0;
    while (performance.now() - started < warmupMs + durationMs) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      for (; sent < due; sent++) {
        const key = send();
        if (performance.now() - started >= warmupMs) {
          measured.add(key);
          expected++;
        }
      }
      await sleep(5);
    }
    await this.settle(3_000);
    return {
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      received: latencies.length,
      expected,
      offloadedShare: offloaded / Math.max(1, latencies.length),
    };
  }

  /** Waits until every window sent has its result, or for `ms` at most. */
  private async settle(ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (this.sentAt.size > 0 && performance.now() < end) await sleep(20);
    this.onResult = () => undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connect(url: string, name: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId: `${name}-${process.pid}`, clean: true });
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}

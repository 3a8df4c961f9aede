import mqtt, { type MqttClient } from 'mqtt';
import { percentile } from '../lib/report.js';

export interface LoadResult {
  rate: number;
  sent: number;
  expected: number;
  received: number;
  lossless: boolean;
  /** Lossless, and the subject kept up: p99 publish → result within SUSTAINED_P99_MS. */
  sustained: boolean;
  p50Ms: number;
  p99Ms: number;
  peakRssMb: number;
}

const WINDOW = 32;
const STRIDE = 4;
const TICK_MS = 2;
/**
 * A rate counts as sustained only if the subject keeps up with it. A subject that falls behind
 * still delivers every result in the end, just later and later; a p99 bound tells the two apart.
 */
export const SUSTAINED_P99_MS = 250;

/**
 * Publishes readings from `sensors` simulated sensors at `rate` messages per second for
 * `durationMs` (QoS 0, JSON `{"value","ts"}`), collects the results, and measures
 * publish → result latency for every window from the send time of the reading that closed it.
 */
export class LoadRig {
  private pub: MqttClient | null = null;
  private sub: MqttClient | null = null;
  private sentAt = new Map<string, number>();
  private latencies: number[] = [];
  private received = 0;
  private tsBase = Date.now();
  private runId = 0;

  constructor(
    private readonly init: { url: string; sensorPrefix: string; resultTopic: string; sensors: number },
  ) {}

  async start(): Promise<void> {
    this.pub = await connect(this.init.url, 'bench-load');
    this.sub = await connect(this.init.url, 'bench-results');
    this.sub.on('message', (_topic, payload) => this.onResult(payload));
    await this.sub.subscribeAsync(this.init.resultTopic, { qos: 1 });
  }

  async stop(): Promise<void> {
    await Promise.all([this.pub?.endAsync(), this.sub?.endAsync()]);
  }

  async run(rate: number, durationMs: number, sampleRss: () => number): Promise<LoadResult> {
    const pub = this.pub as MqttClient;
    this.sentAt.clear();
    this.latencies = [];
    this.received = 0;
    // Fresh sensor names per run: neither subject carries a half-filled window from the last run.
    this.runId++;
    this.tsBase += 10_000_000;
    const counts = new Array<number>(this.init.sensors).fill(0);
    let sent = 0;
    let peakRss = 0;
    const started = performance.now();
    let next = started;
    let sensor = 0;
    while (performance.now() - started < durationMs) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      for (; sent < due; sent++) {
        const n = (counts[sensor] as number) + 1;
        counts[sensor] = n;
        const ts = this.tsBase + n;
        const topic = `${this.init.sensorPrefix}r${this.runId}-s${sensor}`;
        if (n >= WINDOW && (n - WINDOW) % STRIDE === 0) this.sentAt.set(`${topic}|${ts}`, performance.now());
        pub.publish(topic, `{"value":${Math.sin(n / 5).toFixed(4)},"ts":${ts}}`, { qos: 0 });
        sensor = (sensor + 1) % this.init.sensors;
      }
      if (sent % 1000 < 50) peakRss = Math.max(peakRss, sampleRss());
      next += TICK_MS;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    const expected = counts.reduce(
      (a, n) => a + (n >= WINDOW ? Math.floor((n - WINDOW) / STRIDE) + 1 : 0),
      0,
    );
    await this.drain(expected);
    peakRss = Math.max(peakRss, sampleRss());
    const p99Ms = percentile(this.latencies, 99);
    const lossless = this.received === expected;
    return {
      rate,
      sent,
      expected,
      received: this.received,
      lossless,
      sustained: lossless && p99Ms <= SUSTAINED_P99_MS,
      p50Ms: percentile(this.latencies, 50),
      p99Ms,
      peakRssMb: peakRss,
    };
  }

  /** Waits until every expected result is in, or until results stop arriving for three seconds. */
  private async drain(expected: number): Promise<void> {
    let last = this.received;
    let quietSince = performance.now();
    while (this.received < expected && performance.now() - quietSince < 3000) {
      await new Promise((r) => setTimeout(r, 20));
      if (this.received !== last) {
        last = this.received;
        quietSince = performance.now();
      }
    }
  }

  private onResult(payload: Buffer): void {
    const now = performance.now();
    const r = JSON.parse(payload.toString()) as { sensor: string; window: { end: number } };
    this.received++;
    const key = `${r.sensor}|${r.window.end}`;
    const at = this.sentAt.get(key);
    if (at !== undefined) {
      this.latencies.push(now - at);
      this.sentAt.delete(key);
    }
  }
}

async function connect(url: string, name: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId: `${name}-${process.pid}`, clean: true });
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}

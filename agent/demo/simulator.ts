import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import { parseBrokerUrl } from '../mqtt/transport.js';

export type SensorKind = 'vibration' | 'temperature';

/** One simulated sensor; `next(fault)` gives its next reading, healthy when `fault` is null. */
export interface SimulatedSensor {
  next(fault: string | null): number;
}

export interface FaultPlan {
  machine: string;
  kind: SensorKind;
  type: string;
  /** Seconds after the simulator starts. */
  startS: number;
  durationS: number;
}

export interface SimulatorInit {
  url: string;
  topicPrefix: string; // readings go to <prefix>/<machine>/<kind>
  machines: string[];
  /** Readings per second per sensor. */
  rateHz: Record<SensorKind, number>;
  faults: FaultPlan[];
  /** One deliberately broken payload every this many seconds from 5 s on (0 = never), to show rejection. */
  garbageEveryS: number;
}

export interface SimulatorComponents {
  sensor: (kind: SensorKind, machine: string) => SimulatedSensor;
  logger: Logger;
  now?: () => number;
}

interface Sensor {
  machine: string;
  kind: SensorKind;
  source: SimulatedSensor;
  topic: string;
  sent: number;
}

const TICK_MS = 20;

/**
 * Simulated factory machines publishing vibration and temperature readings over MQTT
 * as JSON `{ "value": x, "ts": ms }`, with faults injected on a schedule.
 */
export class Simulator {
  private client: MqttClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private readonly sensors: Sensor[] = [];
  private published = 0;
  private garbageSent = 0;

  constructor(
    private readonly init: SimulatorInit,
    private readonly components: SimulatorComponents,
  ) {
    for (const machine of init.machines) {
      for (const kind of ['vibration', 'temperature'] as const) {
        this.sensors.push({
          machine,
          kind,
          source: components.sensor(kind, machine),
          topic: `${init.topicPrefix}/${machine}/${kind}`,
          sent: 0,
        });
      }
    }
  }

  async start(): Promise<void> {
    this.client = await mqtt.connectAsync({
      ...brokerOptions(this.init.url),
      clientId: `fieldmesh-demo-sensors-${process.pid}`,
      clean: true,
      reconnectPeriod: 1000,
    });
    this.startedAt = this.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.client?.endAsync();
  }

  /** The fault active on a machine's sensor now, if any. */
  activeFault(machine: string, kind: SensorKind, atS = this.elapsedS()): FaultPlan | undefined {
    return this.init.faults.find(
      (f) => f.machine === machine && f.kind === kind && atS >= f.startS && atS < f.startS + f.durationS,
    );
  }

  stats(): { published: number; garbage: number; elapsedS: number } {
    return { published: this.published, garbage: this.garbageSent, elapsedS: this.elapsedS() };
  }

  elapsedS(): number {
    return (this.now() - this.startedAt) / 1000;
  }

  private tick(): void {
    const client = this.client;
    if (!client?.connected) return;
    const t = this.elapsedS();
    for (const s of this.sensors) {
      const rate = this.init.rateHz[s.kind];
      const fault = this.activeFault(s.machine, s.kind, t)?.type ?? null;
      // Each reading carries its nominal sample time, so timestamps are distinct and increasing.
      for (; s.sent < t * rate; s.sent++) {
        const ts = Math.round(this.startedAt + (s.sent * 1000) / rate);
        client.publish(s.topic, `{"value":${s.source.next(fault).toFixed(5)},"ts":${ts}}`, { qos: 0 });
        this.published++;
      }
    }
    if (this.init.garbageEveryS > 0 && t >= 5 + this.garbageSent * this.init.garbageEveryS) {
      const s = this.sensors[this.garbageSent % this.sensors.length];
      if (s)
        client.publish(s.topic, this.garbageSent % 2 === 0 ? '{"value": "NaN"}' : 'ERR 0x3f sensor timeout', {
          qos: 0,
        });
      this.garbageSent++;
    }
  }

  private now(): number {
    return (this.components.now ?? Date.now)();
  }
}

/**
 * The broker URL as mqtt.js options, parsed as the agent's own link parses it: given a URL
 * string, mqtt.js uses Node's legacy url.parse(), which Node 24 warns about on every start.
 */
export function brokerOptions(url: string): { protocol: 'mqtt' | 'mqtts'; host: string; port: number } {
  const { protocol, host, port } = parseBrokerUrl(url);
  return { protocol, host, port };
}

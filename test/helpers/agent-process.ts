import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach } from 'vitest';
import { decodeNumber, META_IN_FLIGHT, META_NEXT_SEQ, RECEIPT_RANGE } from '../../agent/receipts/records.js';
import { createSensorStream, type SensorStream } from '../../models/generate/synthetic.js';
import type { NodeIdentity } from '../../protocol/identity.js';
import { loadOrCreateIdentity } from '../../protocol/keystore.js';
import { closedPort, connectTestClient } from './broker.js';
import { withTimeout } from './wait-for.js';

const BIN = path.resolve('bin/fieldmesh.js');
export const VIBRATION_MANIFEST = path.resolve('models/examples/vibration-ae/manifest.json');

/** One JSON line of the agent's pino log. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface AgentConfigOptions {
  readonly dataDir: string;
  /** Port of the agent's embedded broker; fixed, so a restarted agent listens where sensors publish. */
  readonly brokerPort: number;
  readonly settlementUrl: string;
  readonly servicePublicKey: string;
  /** Pipeline ids; each reads `<id>/+/vibration` with the vibration-ae model. */
  readonly pipelines: readonly string[];
  readonly settlement?: Record<string, unknown>;
}

/**
 * Writes an agent configuration (JSON is YAML) for `fieldmesh agent --config`: embedded broker
 * on 127.0.0.1:brokerPort, the example vibration model, one pipeline per id, receipts on.
 */
export async function writeAgentConfig(file: string, o: AgentConfigOptions): Promise<void> {
  const config = {
    node: { name: 'e2e', dataDir: o.dataDir },
    log: { level: 'info' },
    // Sensors and observers of these tests connect without credentials.
    broker: { enabled: true, host: '127.0.0.1', port: o.brokerPort, auth: { allowAnonymous: true } },
    mqtt: { connectTimeoutMs: 5_000 },
    // Agents of parallel test files must not race for the operator API's default port.
    api: { port: 0 },
    models: [{ id: 'vibration-ae', manifest: VIBRATION_MANIFEST, warmupRuns: 1 }],
    pipelines: o.pipelines.map((id) => ({
      id,
      model: 'vibration-ae',
      input: { topic: `${id}/+/vibration`, format: 'number', sensor: { from: 'level', level: 1 } },
      window: { stride: 4 },
      results: { qos: 0 },
    })),
    settlement: {
      url: o.settlementUrl,
      servicePublicKey: o.servicePublicKey,
      requestTimeoutMs: 2_000,
      backoff: { minMs: 50, maxMs: 300 },
      ...o.settlement,
    },
  };
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
}

export interface PreparedAgent {
  readonly dataDir: string;
  readonly configFile: string;
  /** The agent's embedded broker, where sensors publish and results appear. */
  readonly brokerUrl: string;
  /** The node identity, created before the first start so the test knows the provider key. */
  readonly node: NodeIdentity;
}

/** A data dir with a node key and a config file under `work`, ready for `new AgentProcess(configFile)`. */
export async function prepareAgent(
  work: string,
  name: string,
  o: Omit<AgentConfigOptions, 'dataDir' | 'brokerPort'>,
): Promise<PreparedAgent> {
  const dataDir = path.join(work, name);
  const node = (await loadOrCreateIdentity(dataDir)).identity;
  const brokerPort = await closedPort();
  const configFile = path.join(work, `${name}.yaml`);
  await writeAgentConfig(configFile, { ...o, dataDir, brokerPort });
  return { dataDir, configFile, brokerUrl: `mqtt://127.0.0.1:${brokerPort}`, node };
}

/**
 * `node bin/fieldmesh.js agent --config FILE` as a child process, its JSON log parsed line by
 * line so a test can wait for what the agent says ("agent ready", "batch acknowledged").
 */
export class AgentProcess {
  readonly logs: LogLine[] = [];
  /** Resolves with the exit code (null after a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';
  private readonly child: ChildProcess;
  private readonly waiters: (() => void)[] = [];
  private partial = '';
  private done = false;

  constructor(configFile: string) {
    this.child = spawn(process.execPath, [BIN, 'agent', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: withoutFieldmeshEnv(process.env),
    });
    this.child.stdout!.on('data', (d: Buffer) => this.onStdout(d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.done = true;
        this.wake();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return !this.done;
  }

  /**
   * The first log line from index `from` on that passes `match`; rejects on timeout or when
   * the agent exits first.
   */
  async waitForLog(
    match: (line: LogLine) => boolean,
    what: string,
    timeoutMs = 20_000,
    from = 0,
  ): Promise<LogLine> {
    const find = async (): Promise<LogLine> => {
      for (let i = from; ; ) {
        for (; i < this.logs.length; i++) if (match(this.logs[i]!)) return this.logs[i]!;
        if (this.done)
          throw new Error(`the agent exited before ${what}; stderr: ${this.stderr.slice(-2_000)}`);
        await new Promise<void>((r) => this.waiters.push(r));
      }
    };
    return withTimeout(find(), what, timeoutMs);
  }

  waitForMessage(msg: string, timeoutMs?: number): Promise<LogLine> {
    return this.waitForLog((l) => l.msg === msg, `the agent to log "${msg}"`, timeoutMs);
  }

  /** The next line logging `msg` from now on (earlier ones do not count). */
  waitForNextMessage(msg: string, timeoutMs?: number): Promise<LogLine> {
    return this.waitForLog(
      (l) => l.msg === msg,
      `the agent to log "${msg}" again`,
      timeoutMs,
      this.logs.length,
    );
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals, timeoutMs = 15_000) {
    if (this.running) this.child.kill(signal);
    return withTimeout(this.exited, `the agent to exit after ${signal}`, timeoutMs);
  }

  messages(msg: string): LogLine[] {
    return this.logs.filter((l) => l.msg === msg);
  }

  private onStdout(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.logs.push({ msg: line });
      }
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * Sensors publishing vibration readings (QoS 0, number payloads) to `<pipeline>/<sensor>/vibration`
 * every `intervalMs`, one reading per sensor per tick. A publisher lives as long as one agent
 * run: when the agent (and its broker) dies, publishing stops and `stop()` just cleans up.
 */
export class SensorPublisher {
  published = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly streams = new Map<string, SensorStream>();

  private constructor(
    private readonly client: MqttClient,
    topics: readonly string[],
    seed: number,
  ) {
    for (const [i, topic] of topics.entries())
      this.streams.set(topic, createSensorStream({ kind: 'vibration', seed: seed + i }));
  }

  static async start(
    brokerUrl: string,
    topics: readonly string[],
    options: { seed: number; intervalMs: number; clientId?: string },
  ): Promise<SensorPublisher> {
    const client = await connectTestClient(brokerUrl, { clientId: options.clientId ?? 'e2e-sensors' });
    const p = new SensorPublisher(client, topics, options.seed);
    // Pacing, not synchronisation: sensors report at a rate, whatever the agent does.
    p.timer = setInterval(() => p.tick(), options.intervalMs);
    return p;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.client.endAsync(true).catch(() => undefined);
  }

  private tick(): void {
    if (!this.client.connected) return;
    for (const [topic, stream] of this.streams) {
      this.client.publish(topic, String(stream.next()), { qos: 0 }, () => undefined);
      this.published++;
    }
  }
}

/** Sensor topics: `sensorsPerPipeline` sensors on each pipeline's input topic. */
export function sensorTopics(pipelines: readonly string[], sensorsPerPipeline: number): string[] {
  return pipelines.flatMap((p) =>
    Array.from({ length: sensorsPerPipeline }, (_, i) => `${p}/m${i + 1}/vibration`),
  );
}

/** The environment minus FIELDMESH_* overrides, so the config file alone decides. */
function withoutFieldmeshEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('FIELDMESH_')));
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from the logged seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The agent's outbox store, read after the agent exited (it holds the lock while running):
 * the next receipt sequence, the receipts still stored, and whether a batch is in flight.
 */
export async function outboxOnDisk(
  dataDir: string,
): Promise<{ nextSeq: number; stored: number; inFlight: boolean }> {
  const db = new ClassicLevel<string, Uint8Array>(path.join(dataDir, 'receipts'), {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
  });
  await db.open();
  try {
    let stored = 0;
    for await (const _ of db.keys(RECEIPT_RANGE)) stored++;
    return {
      nextSeq: decodeNumber(await db.get(META_NEXT_SEQ)) ?? 0,
      stored,
      inFlight: (await db.get(META_IN_FLIGHT)) !== undefined,
    };
  } finally {
    await db.close();
  }
}

/**
 * A temporary directory per test, and a list of things to stop after it (newest first,
 * failures ignored), registered with beforeEach/afterEach of the calling file.
 */
export function useWorkspace(prefix: string): {
  readonly dir: string;
  defer(stop: () => Promise<unknown>): void;
} {
  let dir = '';
  const stops: (() => Promise<unknown>)[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), prefix));
  });
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    defer: (stop) => {
      stops.push(stop);
    },
  };
}

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../agent/agent.js';
import { validateConfig } from '../../../agent/config/load.js';
import type { Config } from '../../../agent/config/schema.js';
import type { ErrorReport } from '../../../agent/pipeline/error-reporter.js';
import type { InferenceResult } from '../../../agent/pipeline/result.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { createSensorStream, type VibrationFaultType } from '../../../models/generate/synthetic.js';
import { connectTestClient, quietLogger, startTestBroker } from '../../helpers/broker.js';
import { Collector } from '../../helpers/collect.js';

/**
 * The deliverable's acceptance test: the example vibration model on an accelerometer it was
 * never trained on (another scale and offset: readings × 7 + 3), with and without calibration.
 */
const MANIFEST = path.resolve('models/examples/vibration-ae/manifest.json');
const SIZE = 32;
const STRIDE = 4;
const PROBATION = 500;
/** Windows per sensor: the first PER_SENSOR_PROBATION go to probation, the fault starts half-way through the rest. */
const WINDOWS = 500;
const PER_SENSOR_PROBATION = 170;
const FAULTS: readonly VibrationFaultType[] = ['spike', 'growth', 'bearing'];
const FAULT_START = (PER_SENSOR_PROBATION + (WINDOWS - PER_SENSOR_PROBATION) / 2) * STRIDE;
const CALIBRATION_TOPIC = 'fieldmesh/v1/pipelines/+/calibration/+';

interface StateMessage {
  pipeline: string;
  state: 'calibrating' | 'calibrated';
  source?: 'stored' | 'learned';
  threshold?: number;
  normalise?: { mean: number; std: number };
}

let work: string;
let broker: EmbeddedBroker;
let client: MqttClient;
let config: Config;
let agent: Agent;
let results: Collector<InferenceResult>;
let states: Collector<StateMessage>;
let errors: Collector<ErrorReport>;

/** One machine's readings as this other accelerometer reports them, and which are faulty. */
function machine(fault: VibrationFaultType, seed: number): { values: number[]; faulty: boolean[] } {
  const stream = createSensorStream({
    kind: 'vibration',
    seed,
    fault: { type: fault, startAt: FAULT_START },
  });
  const values: number[] = [];
  const faulty: boolean[] = [];
  for (let i = 0; i < SIZE + (WINDOWS - 1) * STRIDE; i++) {
    const r = stream.nextReading();
    values.push(r.value * 7 + 3);
    faulty.push(r.faulty);
  }
  return { values, faulty };
}

const machines = FAULTS.map((fault, i) => ({ sensor: `m-${fault}`, ...machine(fault, 900_001 + i) }));

/** Messages of STRIDE readings: after the first SIZE readings, each message completes one window. */
async function feed(prefix: string, fromWindow: number, toWindow: number): Promise<void> {
  const first = fromWindow === 0 ? 0 : SIZE + (fromWindow - 1) * STRIDE;
  const last = SIZE + (toWindow - 1) * STRIDE;
  for (let at = first; at < last; at += STRIDE) {
    for (const m of machines) {
      await client.publishAsync(`${prefix}/${m.sensor}/vib`, JSON.stringify(m.values.slice(at, at + STRIDE)));
    }
  }
}

function labelOf(m: (typeof machines)[number], k: number): boolean {
  return m.faulty.slice(k * STRIDE, k * STRIDE + SIZE).some(Boolean);
}

/** False-positive rate on healthy windows and recall on faulty ones, over scored windows only. */
function measure(pipeline: string): { fpRate: number; recall: number; healthy: number; faulty: number } {
  let fp = 0;
  let healthy = 0;
  let tp = 0;
  let faulty = 0;
  for (const m of machines) {
    const mine = results
      .bodies()
      .filter((r) => r.pipeline === pipeline && r.sensor === m.sensor)
      .sort((a, b) => a.seq - b.seq);
    mine.forEach((r, k) => {
      if (r.anomaly === undefined) return;
      if (labelOf(m, k)) {
        faulty++;
        if (r.anomaly) tp++;
      } else {
        healthy++;
        if (r.anomaly) fp++;
      }
    });
  }
  return { fpRate: fp / healthy, recall: tp / faulty, healthy, faulty };
}

function count(pipeline: string): number {
  return results.bodies().filter((r) => r.pipeline === pipeline).length;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-calibration-'));
  broker = await startTestBroker();
  client = await connectTestClient(broker.url, { clientId: 'sensors' });
  results = new Collector(client, (t) => t.endsWith('/results'));
  states = new Collector(client, (t) => t.includes('/calibration/'));
  errors = new Collector(client, (t) => t.endsWith('/errors'));
  await client.subscribeAsync('fieldmesh/v1/pipelines/+/errors', { qos: 1 });
  await client.subscribeAsync('fieldmesh/v1/pipelines/+/results', { qos: 1 });
  await client.subscribeAsync(CALIBRATION_TOPIC, { qos: 1 });
  const pipeline = (id: string, prefix: string) => ({
    id,
    model: 'vibration',
    input: {
      topic: `${prefix}/+/vib`,
      format: 'json' as const,
      sensor: { from: 'level' as const, level: 1 },
    },
    window: { stride: STRIDE },
    results: { qos: 0 as const },
  });
  config = validateConfig(
    {
      node: { name: 'calibration', dataDir: path.join(work, 'data') },
      log: { level: 'silent' },
      mqtt: { url: broker.url, connectTimeoutMs: 3000 },
      models: [{ id: 'vibration', manifest: MANIFEST, warmupRuns: 1 }],
      pipelines: [
        pipeline('shipped', 'raw'),
        { ...pipeline('learned', 'plant'), calibration: { windows: PROBATION } },
      ],
    },
    'calibration.yaml',
    { env: {} },
  );
  agent = new Agent(config, { logger: quietLogger });
  await agent.start();
});

afterAll(async () => {
  await agent?.stop();
  await client.endAsync(true);
  await broker.stop();
  await rm(work, { recursive: true, force: true });
});

describe('calibration on the device (example vibration model, real broker and onnxruntime)', () => {
  it('learns a sensor it was never trained on and then flags its faults, where the shipped calibration flags everything', async () => {
    await states.until((m) => m.some((s) => s.body.state === 'calibrating'), 'probation announced');
    await feed('plant', 0, PER_SENSOR_PROBATION);
    await states.until(
      (m) => m.some((s) => s.body.state === 'calibrated'),
      'calibrated after probation',
      10_000,
    );
    const during = results.bodies().filter((r) => r.pipeline === 'learned');
    expect(during.length).toBe(PER_SENSOR_PROBATION * machines.length);
    expect(during.every((r) => r.calibrating !== undefined && r.anomaly === undefined)).toBe(true);
    expect(during.at(-1)?.calibrating).toEqual({ done: PROBATION, of: PROBATION });

    await feed('plant', PER_SENSOR_PROBATION, WINDOWS);
    await feed('raw', 0, WINDOWS);
    const all = WINDOWS * machines.length;
    await results.until(
      () => count('learned') === all && count('shipped') === all,
      'every window scored',
      15_000,
    );

    const shipped = measure('shipped');
    const learned = measure('learned');
    const line = (name: string, m: ReturnType<typeof measure>) =>
      `${name}: ${Math.round(m.fpRate * m.healthy)} of ${m.healthy} healthy windows flagged, ` +
      `${Math.round(m.recall * m.faulty)} of ${m.faulty} faulty ones`;
    // The figures the README quotes.
    console.log(`${line('shipped calibration', shipped)}\n${line('learned calibration', learned)}`);
    expect(shipped.fpRate).toBeGreaterThan(0.9); // the shipped normalisation: nonsense on this sensor
    expect(learned.healthy).toBeGreaterThan(400);
    expect(learned.fpRate).toBeLessThanOrEqual(0.01);
    expect(learned.recall).toBeGreaterThanOrEqual(0.8);

    const stored = JSON.parse(await readFile(path.join(work, 'data', 'calibration', 'learned.json'), 'utf8'));
    expect(stored.model.sha256).toBe(agent.status().models[0]?.sha256);
    expect(stored.normalise.mean).toBeCloseTo(3, 0);
    expect(stored.windows).toBe(PROBATION);
  }, 40_000);

  it('scores at once after a restart with the stored calibration, and calibrates again on command', async () => {
    await agent.stop();
    results.messages.length = 0;
    states.messages.length = 0;
    agent = new Agent(config, { logger: quietLogger });
    await agent.start();
    await states.until((m) => m.some((s) => s.body.source === 'stored'), 'stored calibration in force');
    await feed('plant', 0, 20);
    await results.until(() => count('learned') === 20 * machines.length, 'windows after restart');
    const scored = results.bodies().filter((r) => r.pipeline === 'learned');
    expect(scored.every((r) => r.anomaly !== undefined && r.calibrating === undefined)).toBe(true);

    states.messages.length = 0;
    results.messages.length = 0;
    await client.publishAsync('fieldmesh/v1/pipelines/learned/calibrate', '{"command":"recalibrate"}', {
      qos: 1,
    });
    await states.until(
      (m) => m.some((s) => s.body.state === 'calibrating'),
      'probation again after the command',
    );
    await feed('plant', 20, 40);
    await results.until(() => count('learned') === 20 * machines.length, 'windows while calibrating again');
    expect(results.bodies().every((r) => r.calibrating !== undefined && r.anomaly === undefined)).toBe(true);
    expect(agent.status().pipelines.find((p) => p.id === 'learned')?.calibration?.state).toBe('calibrating');
  }, 20_000);

  it('reports a corrupt calibration file on the error topic and calibrates again, without failing', async () => {
    await agent.stop();
    const file = path.join(work, 'data', 'calibration', 'learned.json');
    await writeFile(file, '{"format":1,');
    states.messages.length = 0;
    agent = new Agent(config, { logger: quietLogger });
    await agent.start();
    await errors.until(
      (m) => m.some((e) => e.body.reason === 'calibration_failed'),
      'the corrupt file reported',
    );
    const report = errors.bodies().find((e) => e.reason === 'calibration_failed');
    expect(report?.detail).toContain(`${file} is not JSON`);
    await states.until(
      (m) => m.some((s) => s.body.state === 'calibrating'),
      'probation after the corrupt file',
    );
    expect(agent.status().failures).toEqual([]);
  });
});

import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { validateConfig } from '../../agent/config/load.js';
import type { ConfigInput } from '../../agent/config/schema.js';
import type { ErrorReport } from '../../agent/pipeline/error-reporter.js';
import type { InferenceResult } from '../../agent/pipeline/result.js';
import { createSensorStream } from '../../models/generate/synthetic.js';
import { signManifestJson } from '../../models/publisher.js';
import { identityFromSeed } from '../../protocol/identity.js';
import { connectTestClient, quietLogger } from '../helpers/broker.js';
import { Collector } from '../helpers/collect.js';
import { SITE_BROKERS, type SiteBroker, type SiteBrokerKind, startSiteBroker } from '../helpers/mosquitto.js';

const EXAMPLES = path.resolve('models/examples');
const VIB = path.join(EXAMPLES, 'vibration-ae/manifest.json');
const TEMP = path.join(EXAMPLES, 'temperature-ae/manifest.json');

let site: SiteBroker;
let observer: MqttClient;
let sensors: MqttClient;
let results: Collector<InferenceResult>;
let errors: Collector<ErrorReport>;
let work: string;
const running: Agent[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-agent-'));
});

/** A test client of the site broker, logged in like the agent. */
function siteClient(clientId: string): Promise<MqttClient> {
  return connectTestClient(site.url, { clientId, ...site.credentials });
}

/** Connects the observer (results and errors) and the sensors to the current site broker. */
async function connectClients(): Promise<void> {
  observer = await siteClient('observer');
  sensors = await siteClient('sensors');
  results = new Collector(observer, (t) => t.endsWith('/results'));
  errors = new Collector(observer, (t) => t.endsWith('/errors'));
  await observer.subscribeAsync(['fieldmesh/v1/pipelines/+/results', 'fieldmesh/v1/pipelines/+/errors'], {
    qos: 1,
  });
}

/** Runs the enclosing describe block against a fresh site broker of `kind`. */
function againstSiteBroker(kind: SiteBrokerKind): void {
  beforeAll(async () => {
    site = await startSiteBroker(kind);
    await connectClients();
  });
  afterAll(async () => {
    await observer.endAsync(true);
    await sensors.endAsync(true);
    await site.stop();
  });
}

afterEach(async () => {
  for (const a of running.splice(0)) await a.stop();
  results.messages.length = 0;
  errors.messages.length = 0;
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function config(overrides: Partial<ConfigInput> = {}, vibManifest = VIB) {
  const raw: ConfigInput = {
    node: { name: 'test-node', dataDir: path.join(work, 'data') },
    log: { level: 'silent' },
    mqtt: {
      url: site.url,
      connectTimeoutMs: 3000,
      reconnect: { minMs: 20, maxMs: 200 },
      ...site.credentials,
    },
    models: [
      { id: 'vibration-ae', manifest: vibManifest, warmupRuns: 1 },
      { id: 'temperature-ae', manifest: TEMP, warmupRuns: 1 },
    ],
    pipelines: [
      {
        id: 'vibration',
        model: 'vibration-ae',
        input: {
          topic: 'plant/+/vibration',
          field: 'value',
          timestampField: 'ts',
          sensor: { from: 'level', level: 1 },
        },
        window: { stride: 4 },
      },
      {
        id: 'temperature',
        model: 'temperature-ae',
        input: { topic: 'plant/+/temperature', format: 'number', sensor: { from: 'level', level: 1 } },
        window: { stride: 8 },
      },
    ],
    ...overrides,
  };
  return validateConfig(raw, 'test.yaml', { env: {} });
}

async function startAgent(cfg = config()): Promise<Agent> {
  const agent = new Agent(cfg, { logger: quietLogger });
  running.push(agent);
  await agent.start();
  return agent;
}

async function publishVibration(machine: string, values: number[], t0 = 1_763_700_000_000): Promise<void> {
  for (const [i, v] of values.entries()) {
    await sensors.publishAsync(`plant/${machine}/vibration`, JSON.stringify({ value: v, ts: t0 + i * 20 }), {
      qos: 1,
    });
  }
}

function healthy(seed: number, n: number): number[] {
  const s = createSensorStream({ kind: 'vibration', seed });
  return Array.from({ length: n }, () => s.next());
}

describe.each(SITE_BROKERS)('agent data path against $name (real onnxruntime)', ({ kind }) => {
  againstSiteBroker(kind);

  it('turns sensor readings into one result per window, with model digest and latency', async () => {
    const agent = await startAgent();
    const qos: number[] = [];
    observer.on('message', (topic, _payload, packet) => {
      if (topic.endsWith('/results')) qos.push(packet.qos);
    });
    await publishVibration('press-1', healthy(7, 40));
    // 40 readings, window 32, stride 4: windows end at readings 32, 36 and 40.
    await results.until((m) => m.length >= 3, 'three results');
    const bodies = results.bodies();
    expect(bodies).toHaveLength(3);
    const digest = createHash('sha256')
      .update(await readFile(path.join(EXAMPLES, 'vibration-ae/model.onnx')))
      .digest('hex');
    for (const [i, r] of bodies.entries()) {
      expect(r).toMatchObject({ pipeline: 'vibration', sensor: 'press-1', node: agent.nodeId, seq: i + 1 });
      expect(r.model).toMatchObject({ id: 'vibration-ae', sha256: digest });
      expect(r.window.size).toBe(32);
      expect(Number.isFinite(r.score)).toBe(true);
      expect(typeof r.anomaly).toBe('boolean');
      expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(bodies.map((r) => r.window.end - r.window.start)).toEqual([31 * 20, 31 * 20, 31 * 20]);
    expect(agent.status().pipelines.find((p) => p.id === 'vibration')).toMatchObject({
      readings: 40,
      results: 3,
    });
    // Results go out at QoS 1 (the default); the observer subscribed at QoS 1, so it gets them so.
    expect(qos).toEqual([1, 1, 1]);
    if (site.kind === 'mosquitto') {
      // Mosquitto logs each client's protocol level: the agent's 'auto' link chose MQTT 5.
      expect(site.log()).toContain(`as fieldmesh-${agent.nodeId} (p5,`);
    }
  });

  it('keeps a retained node record that turns offline when the agent stops', async () => {
    const agent = await startAgent();
    const id = agent.nodeId;
    const watcher = await siteClient('record-watcher');
    try {
      const records = new Collector<{ status: string; id: string }>(
        watcher,
        (t) => t === `fieldmesh/v1/nodes/${id}`,
      );
      await watcher.subscribeAsync(`fieldmesh/v1/nodes/${id}`, { qos: 1 });
      await records.until((m) => m.some((r) => r.body.status === 'online'), 'the online record');
      await agent.stop();
      running.splice(running.indexOf(agent), 1);
      await records.until((m) => m.at(-1)?.body.status === 'offline', 'the offline record');
      expect(records.messages.at(-1)?.body.id).toBe(id);
    } finally {
      await watcher.endAsync(true);
    }
  });

  it('reconnects after the broker restarts, re-subscribes and turns new readings into results', async () => {
    const agent = await startAgent();
    await publishVibration('press-7', healthy(5, 32));
    await results.until((m) => m.some((r) => r.body.sensor === 'press-7'), 'a result before the restart');
    await observer.endAsync(true);
    await sensors.endAsync(true);

    await site.restart(); // a fresh broker on the same port: no session, no retained messages
    await connectClients();
    const watcher = await siteClient('restart-watcher');
    try {
      const records = new Collector<{ status: string }>(watcher, (t) => t.endsWith(`/nodes/${agent.nodeId}`));
      await watcher.subscribeAsync(`fieldmesh/v1/nodes/${agent.nodeId}`, { qos: 1 });
      // The online record is published once the link is back and its subscriptions are restored.
      await records.until((m) => m.some((r) => r.body.status === 'online'), 'the agent back online');
    } finally {
      await watcher.endAsync(true);
    }
    await publishVibration('press-8', healthy(6, 32));
    await results.until((m) => m.some((r) => r.body.sensor === 'press-8'), 'a result after the restart');
    expect(agent.status().mqtt.connected).toBe(true);
  });
});

describe('agent data path on the embedded broker (real onnxruntime)', () => {
  againstSiteBroker('embedded');

  it('flags a developing fault and stays quiet on a healthy machine', async () => {
    await startAgent();
    const faulty = createSensorStream({ kind: 'vibration', seed: 11, fault: { type: 'growth', startAt: 0 } });
    const fault = Array.from({ length: 400 }, () => faulty.next());
    await publishVibration('press-2', healthy(12, 400));
    await publishVibration('press-3', fault);
    await results.until(
      (m) => m.filter((r) => r.body.sensor === 'press-3').length >= 93,
      'the faulty machine results',
    );
    const late = (sensor: string) =>
      results
        .bodies()
        .filter((r) => r.sensor === sensor)
        .slice(-40);
    await results.until(
      (m) => m.filter((r) => r.body.sensor === 'press-2').length >= 93,
      'the healthy machine results',
    );
    const flagged = late('press-3').filter((r) => r.anomaly).length;
    const falseAlarms = late('press-2').filter((r) => r.anomaly).length;
    expect(flagged).toBeGreaterThanOrEqual(36);
    expect(falseAlarms).toBeLessThanOrEqual(2);
  });

  it('counts and reports malformed readings on the error topic and keeps going', async () => {
    const agent = await startAgent();
    const bad: [string, string][] = [
      ['plant/press-4/vibration', 'ERR sensor timeout'],
      ['plant/press-4/vibration', '{"value":"NaN","ts":1}'],
      ['plant/press-4/vibration', '{"reading":1.5,"ts":2}'],
      ['plant/oven-1/temperature', 'hot'],
      ['plant/oven-1/temperature', 'Infinity'],
    ];
    for (const [topic, payload] of bad) await sensors.publishAsync(topic, payload, { qos: 1 });
    await errors.until((m) => m.length >= 5, 'five error reports');
    const reasons = errors.bodies().map((e) => [e.pipeline, e.reason, e.topic]);
    expect(reasons).toEqual(
      expect.arrayContaining([
        ['vibration', 'malformed_payload', 'plant/press-4/vibration'],
        ['vibration', 'non_finite', 'plant/press-4/vibration'],
        ['vibration', 'missing_field', 'plant/press-4/vibration'],
        ['temperature', 'malformed_payload', 'plant/oven-1/temperature'],
        ['temperature', 'non_finite', 'plant/oven-1/temperature'],
      ]),
    );
    const missing = errors.bodies().find((e) => e.reason === 'missing_field');
    expect(missing?.detail).toContain('value');
    // The same pipeline still turns good readings into results.
    await publishVibration('press-4', healthy(3, 32));
    await results.until((m) => m.some((r) => r.body.sensor === 'press-4'), 'a result after the bad readings');
    const stats = agent.status().pipelines.find((p) => p.id === 'vibration');
    expect(stats?.rejected).toMatchObject({ malformed_payload: 1, non_finite: 1, missing_field: 1 });
    expect(stats?.state).toBe('running');
  });

  it('refuses a model whose bytes differ from its manifest, naming both digests, and runs the rest', async () => {
    const dir = path.join(work, 'tampered');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    await copyFile(VIB, path.join(dir, 'manifest.json'));
    const bytes = await readFile(path.join(EXAMPLES, 'vibration-ae/model.onnx'));
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff;
    await writeFile(path.join(dir, 'model.onnx'), bytes);
    const expected = JSON.parse(await readFile(VIB, 'utf8')).sha256 as string;
    const actual = createHash('sha256').update(bytes).digest('hex');

    const agent = await startAgent(config({}, path.join(dir, 'manifest.json')));
    const status = agent.status();
    const refused = status.failures.find((f) => f.part === 'model vibration-ae');
    expect(refused?.code).toBe('MODEL_DIGEST_MISMATCH');
    expect(refused?.message).toContain(expected);
    expect(refused?.message).toContain(actual);
    expect(status.pipelines.map((p) => p.id)).toEqual(['temperature']);

    for (let i = 0; i < 40; i++)
      await sensors.publishAsync('plant/oven-2/temperature', String(60 + Math.sin(i) * 0.3), { qos: 1 });
    await results.until((m) => m.some((r) => r.body.pipeline === 'temperature'), 'a temperature result');
  });
});

describe('model publishers (embedded broker, real onnxruntime)', () => {
  againstSiteBroker('embedded');

  it('with modelPublishers, runs the model its publisher signed and refuses the unsigned one', async () => {
    const publisher = identityFromSeed(new Uint8Array(32).fill(77));
    const dir = path.join(work, 'signed');
    await mkdir(dir, { recursive: true });
    await copyFile(path.join(EXAMPLES, 'vibration-ae/model.onnx'), path.join(dir, 'model.onnx'));
    const raw = JSON.parse(await readFile(VIB, 'utf8')) as Record<string, unknown>;
    await writeFile(
      path.join(dir, 'manifest.json'),
      JSON.stringify(signManifestJson(raw, publisher, 'line QA')),
    );

    const agent = await startAgent(
      config({ modelPublishers: [publisher.peerId] }, path.join(dir, 'manifest.json')),
    );
    const status = agent.status();
    const refused = status.failures.find((f) => f.part === 'model temperature-ae');
    expect(refused?.code).toBe('MODEL_PUBLISHER_UNTRUSTED');
    expect(refused?.message).toContain('is not signed');
    expect(refused?.message).toContain(publisher.peerId);
    expect(status.pipelines.map((p) => p.id)).toEqual(['vibration']);
    await publishVibration('press-9', healthy(9, 40));
    await results.until((m) => m.some((r) => r.body.sensor === 'press-9'), 'a result of the signed model');
  });

  it('refuses a signed manifest changed after signing, whatever the policy, and runs the rest', async () => {
    const publisher = identityFromSeed(new Uint8Array(32).fill(78));
    const dir = path.join(work, 'forged');
    await mkdir(dir, { recursive: true });
    await copyFile(path.join(EXAMPLES, 'vibration-ae/model.onnx'), path.join(dir, 'model.onnx'));
    const raw = JSON.parse(await readFile(VIB, 'utf8')) as Record<string, unknown>;
    const signed = signManifestJson(raw, publisher) as { postprocessing: { threshold: number } };
    signed.postprocessing.threshold *= 10; // quieter alarms, same signature
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(signed));

    const agent = await startAgent(config({}, path.join(dir, 'manifest.json')));
    const refused = agent.status().failures.find((f) => f.part === 'model vibration-ae');
    expect(refused?.code).toBe('MANIFEST_SIGNATURE_INVALID');
    expect(refused?.message).toContain(`does not verify under ${publisher.peerId}`);
    expect(agent.status().pipelines.map((p) => p.id)).toEqual(['temperature']);
  });
});

describe('multi-sample CBOR payloads (embedded broker, real onnxruntime)', () => {
  againstSiteBroker('embedded');

  it('windows fixed-length bursts and rejects wrong lengths and unknown sensors by reason', async () => {
    const { encode } = await import('cbor-x');
    const base = config();
    const cfg = validateConfig(
      {
        ...structuredClone(base),
        pipelines: [
          {
            id: 'burst',
            model: 'vibration-ae',
            input: {
              topic: 'plant/+/burst',
              format: 'cbor',
              field: 'samples',
              timestampField: 't',
              length: 4,
              sensor: { from: 'level', level: 1 },
              sensors: ['acc-1'],
            },
            window: { stride: 4 },
          },
        ],
      },
      'test.yaml',
      { env: {} },
    );
    const agent = await startAgent(cfg);
    const values = healthy(21, 32);
    for (let i = 0; i < 8; i++) {
      const body = encode({ t: 1_763_700_000_000 + i * 80, samples: values.slice(i * 4, i * 4 + 4) });
      await sensors.publishAsync('plant/acc-1/burst', body, { qos: 1 });
    }
    await sensors.publishAsync('plant/acc-1/burst', encode({ t: 1_763_700_001_000, samples: [1, 2, 3] }), {
      qos: 1,
    });
    await sensors.publishAsync('plant/acc-9/burst', encode({ t: 1_763_700_001_000, samples: [1, 2, 3, 4] }), {
      qos: 1,
    });
    await results.until(
      (m) => m.some((r) => r.body.pipeline === 'burst'),
      'a result from eight bursts of four',
    );
    await errors.until((m) => m.length >= 2, 'two error reports');
    expect(errors.bodies().map((e) => [e.reason, e.topic])).toEqual(
      expect.arrayContaining([
        ['wrong_length', 'plant/acc-1/burst'],
        ['unknown_sensor', 'plant/acc-9/burst'],
      ]),
    );
    const result = results.bodies().find((r) => r.pipeline === 'burst');
    expect(result?.window).toEqual({ start: 1_763_700_000_000, end: 1_763_700_000_000 + 7 * 80, size: 32 });
    expect(agent.status().pipelines[0]?.rejected).toEqual({ wrong_length: 1, unknown_sensor: 1 });
  });
});

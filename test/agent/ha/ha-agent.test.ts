import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../agent/agent.js';
import { validateConfig } from '../../../agent/config/load.js';
import type { ConfigInput } from '../../../agent/config/schema.js';
import type { InferenceResult } from '../../../agent/pipeline/result.js';
import { createSensorStream } from '../../../models/generate/synthetic.js';
import { connectTestClient, quietLogger } from '../../helpers/broker.js';
import { Collector } from '../../helpers/collect.js';
import { type SiteBroker, startSiteBroker } from '../../helpers/mosquitto.js';
import { withTimeout } from '../../helpers/wait-for.js';
import { renderValueTemplate } from './template.js';

const VIB = path.resolve('models/examples/vibration-ae/manifest.json');
const RESULTS = 'fieldmesh/v1/pipelines/vibration/results';

let site: SiteBroker;
let work: string;
const clients: MqttClient[] = [];
const agents: Agent[] = [];

beforeEach(async () => {
  site = await startSiteBroker('embedded');
  work = await mkdtemp(path.join(tmpdir(), 'fm-ha-'));
});

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const c of clients.splice(0)) await c.endAsync(true);
  await site.stop();
  await rm(work, { recursive: true, force: true });
});

type PipelineInput = NonNullable<ConfigInput['pipelines']>[number];

function config(homeAssistant?: Pick<PipelineInput, 'homeAssistant'>) {
  const raw: ConfigInput = {
    node: { name: 'ha-node', dataDir: path.join(work, 'data') },
    log: { level: 'silent' },
    mqtt: { url: site.url, connectTimeoutMs: 3000, reconnect: { minMs: 20, maxMs: 200 } },
    models: [{ id: 'vibration-ae', manifest: VIB, warmupRuns: 1 }],
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
        ...(homeAssistant ?? {}),
      },
    ],
  };
  return validateConfig(raw, 'test.yaml', { env: {} });
}

async function startAgent(cfg: ReturnType<typeof config>): Promise<Agent> {
  const agent = new Agent(cfg, { logger: quietLogger });
  agents.push(agent);
  await agent.start();
  return agent;
}

async function client(id: string): Promise<MqttClient> {
  const c = await connectTestClient(site.url, { clientId: id });
  clients.push(c);
  return c;
}

interface Retained {
  topic: string;
  payload: string;
  retain: boolean;
}

/**
 * What a fresh subscriber to homeassistant/# receives: retained messages come at SUBSCRIBE, so
 * once a marker published after the subscription is back, every retained config is in.
 */
async function retainedDiscovery(): Promise<Retained[]> {
  const c = await client(`ha-${Math.random().toString(36).slice(2)}`);
  const got: Retained[] = [];
  const marker = new Promise<void>((resolve) => {
    c.on('message', (topic, payload, packet) => {
      if (topic === 'homeassistant/test-marker') resolve();
      else got.push({ topic, payload: payload.toString(), retain: packet.retain });
    });
  });
  await c.subscribeAsync('homeassistant/#', { qos: 1 });
  await c.publishAsync('homeassistant/test-marker', 'x', { qos: 1 });
  await withTimeout(marker, 'the marker after the retained discovery configs');
  return got;
}

function healthy(seed: number, n: number): number[] {
  const s = createSensorStream({ kind: 'vibration', seed });
  return Array.from({ length: n }, () => s.next());
}

async function publishVibration(sensors: MqttClient, machine: string, values: number[]): Promise<void> {
  for (const [i, v] of values.entries()) {
    const body = JSON.stringify({ value: v, ts: 1_763_700_000_000 + i * 20 });
    await sensors.publishAsync(`plant/${machine}/vibration`, body, { qos: 1 });
  }
}

describe('Home Assistant discovery from a running agent (embedded broker, real onnxruntime)', () => {
  it('publishes nothing without opt-in', async () => {
    await startAgent(config());
    expect(await retainedDiscovery()).toEqual([]);
    await expect(readFile(path.join(work, 'data', 'home-assistant.json'))).rejects.toThrow(/ENOENT/);
  });

  it('announces retained configs whose templates read the result topic', async () => {
    const agent = await startAgent(config({ homeAssistant: { enabled: true, name: 'Press line' } }));
    const node = agent.nodeId;
    const configs = await retainedDiscovery();
    expect(configs.map((c) => c.topic).sort()).toEqual([
      `homeassistant/binary_sensor/fieldmesh_${node}/vibration_anomaly/config`,
      `homeassistant/sensor/fieldmesh_${node}/vibration_anomaly_score/config`,
    ]);
    expect(configs.every((c) => c.retain)).toBe(true);
    const [binary, score] = configs
      .sort((a, b) => a.topic.localeCompare(b.topic))
      .map((c) => JSON.parse(c.payload) as Record<string, unknown>);
    expect(binary).toMatchObject({
      name: 'Press line anomaly',
      unique_id: `fieldmesh_${node}_vibration_anomaly`,
      device_class: 'problem',
      state_topic: RESULTS,
      json_attributes_topic: RESULTS,
      device: { identifiers: [`fieldmesh_${node}`], name: 'ha-node' },
      availability: [{ topic: `fieldmesh/v1/nodes/${node}`, payload_available: 'online' }],
    });
    expect(score).toMatchObject({
      name: 'Press line anomaly score',
      state_class: 'measurement',
      state_topic: RESULTS,
    });

    // The availability template reads the retained node record.
    const recordClient = await client('records');
    const records = new Collector<{ status: string }>(recordClient, () => true);
    await recordClient.subscribeAsync(`fieldmesh/v1/nodes/${node}`, { qos: 1 });
    await records.until((m) => m.some((r) => r.body.status === 'online'), 'the online node record');

    const observer = await client('observer');
    const results = new Collector<InferenceResult>(observer, (t) => t === RESULTS);
    await observer.subscribeAsync(RESULTS, { qos: 1 });
    const sensors = await client('sensors');
    const faulty = createSensorStream({ kind: 'vibration', seed: 11, fault: { type: 'growth', startAt: 0 } });
    await publishVibration(sensors, 'press-2', healthy(12, 64));
    await publishVibration(
      sensors,
      'press-3',
      Array.from({ length: 400 }, () => faulty.next()),
    );
    await results.until((m) => m.some((r) => r.body.anomaly === true), 'an anomalous result', 20_000);

    const mine = results.bodies().filter((r) => r.node === node);
    const normal = mine.find((r) => r.anomaly === false);
    const anomalous = mine.find((r) => r.anomaly === true);
    if (!normal || !anomalous) throw new Error('expected a normal and an anomalous result');
    const render = (template: unknown, r: InferenceResult) =>
      renderValueTemplate(template as string, r as unknown as Record<string, unknown>);
    expect(render(binary?.value_template, normal)).toBe('OFF');
    expect(render(binary?.value_template, anomalous)).toBe('ON');
    expect(Number(render(score?.value_template, anomalous))).toBe(anomalous.score);
    expect(Number.isFinite(Number(render(score?.value_template, normal)))).toBe(true);
  }, 40_000);

  it('announces again after the broker restarts without its retained messages', async () => {
    const agent = await startAgent(config({ homeAssistant: true }));
    expect(await retainedDiscovery()).toHaveLength(2);
    for (const c of clients.splice(0)) await c.endAsync(true);
    await site.restart(); // a fresh broker on the same port: no retained messages
    // Live or, if the agent was quicker than this subscription, retained: either way they come.
    const watcher = await client('watcher');
    const configs = new Collector(watcher, (t) => t.startsWith('homeassistant/'));
    await watcher.subscribeAsync('homeassistant/#', { qos: 1 });
    await configs.until((m) => m.length >= 2, 'the discovery configs after the reconnect');
    expect(configs.messages.map((c) => c.topic).sort()).toEqual([
      `homeassistant/binary_sensor/fieldmesh_${agent.nodeId}/vibration_anomaly/config`,
      `homeassistant/sensor/fieldmesh_${agent.nodeId}/vibration_anomaly_score/config`,
    ]);
  });

  it('removes the entities once the pipeline opts out', async () => {
    const first = await startAgent(config({ homeAssistant: true }));
    expect(await retainedDiscovery()).toHaveLength(2);
    await first.stop();
    agents.splice(0);
    await startAgent(config({ homeAssistant: { enabled: false } }));
    expect(await retainedDiscovery()).toEqual([]);
    const state = JSON.parse(await readFile(path.join(work, 'data', 'home-assistant.json'), 'utf8'));
    expect(state).toEqual({ topics: [] });
  });
});

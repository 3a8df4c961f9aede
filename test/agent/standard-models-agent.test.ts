import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { validateConfig } from '../../agent/config/load.js';
import type { InferenceResult } from '../../agent/pipeline/result.js';
import type { EmbeddedBroker } from '../../broker/embedded-broker.js';
import { connectTestClient, quietLogger, startTestBroker } from '../helpers/broker.js';
import { Collector } from '../helpers/collect.js';
import { classifierModel, halfPrecisionModel } from '../models/standard-fixtures.js';

let work: string;
let broker: EmbeddedBroker;
let client: MqttClient;
let agent: Agent;
let results: Collector<InferenceResult>;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-standard-agent-'));
  const classifier = await classifierModel(work, 12);
  const half = await halfPrecisionModel(work, 16);
  broker = await startTestBroker();
  client = await connectTestClient(broker.url, { clientId: 'sensors' });
  results = new Collector(client, (t) => t.endsWith('/results'));
  await client.subscribeAsync('fieldmesh/v1/pipelines/+/results', { qos: 1 });
  const config = validateConfig(
    {
      node: { name: 'standard', dataDir: path.join(work, 'data') },
      log: { level: 'silent' },
      mqtt: { url: broker.url, connectTimeoutMs: 3000 },
      models: [
        { id: 'classifier', manifest: classifier.manifestPath, warmupRuns: 1 },
        { id: 'half', manifest: half.manifestPath, warmupRuns: 1 },
      ],
      pipelines: [
        {
          id: 'flow',
          model: 'classifier',
          input: { topic: 'plant/+/flow', format: 'number', sensor: { from: 'level', level: 1 } },
          window: { stride: 12 },
          results: { qos: 0 },
        },
        {
          id: 'acoustic',
          model: 'half',
          input: { topic: 'plant/+/acoustic', format: 'number', sensor: { from: 'level', level: 1 } },
          window: { stride: 16 },
          results: { qos: 0 },
        },
        {
          id: 'too-short',
          model: 'half',
          input: { topic: 'plant/+/short', format: 'number', sensor: { from: 'level', level: 1 } },
          window: { size: 8 },
        },
      ],
    },
    'standard.yaml',
    { env: {} },
  );
  agent = new Agent(config, { logger: quietLogger });
  await agent.start();
});

afterAll(async () => {
  await agent.stop();
  await client.endAsync(true);
  await broker.stop();
  await rm(work, { recursive: true, force: true });
});

async function publish(topic: string, values: readonly number[]): Promise<void> {
  for (const v of values) await client.publishAsync(topic, String(v), { qos: 1 });
}

describe('an agent running models as common exporters write them (real broker, real onnxruntime)', () => {
  it('refuses a pipeline whose window does not fit its model, naming the pipeline and both shapes', () => {
    const refused = agent.status().failures.find((f) => f.part === 'pipeline too-short');
    expect(refused?.code).toBe('PIPELINE_CONFIG_INVALID');
    expect(refused?.message).toBe(
      'pipeline "too-short": window.size 8 does not fit model "half": its input "input" has shape ' +
        '["batch_size", 1, "time"], 16 readings per window. Set window.size to 16, or leave it out',
    );
    expect(
      agent
        .status()
        .pipelines.map((p) => p.id)
        .sort(),
    ).toEqual(['acoustic', 'flow']);
  });

  it('publishes a label and a score from a model with constant inputs and an int64 output', async () => {
    // Raw readings 10 + 2x (normalise mean 10, std 2 gives x back); class c sums readings i % 3 === c.
    const bump = (i: number) => (i % 3 === 2 ? 1 : 0);
    await publish(
      'plant/pump1/flow',
      Array.from({ length: 12 }, (_, i) => 10 + 2 * bump(i)),
    );
    await results.until((m) => m.some((r) => r.body.pipeline === 'flow'), 'a flow result');
    const r = results.bodies().find((b) => b.pipeline === 'flow');
    expect(r?.label).toBe('third');
    // score = mean(gain 2 × x) + offset 3 = 2 × 4/12 + 3
    expect(r?.score).toBeCloseTo(2 * (4 / 12) + 3, 5);
    expect(r?.anomaly).toBe(true); // above the threshold 3.5
  });

  it('publishes the float16 score of a half-precision model', async () => {
    await publish(
      'plant/fan1/acoustic',
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 2 : -2)),
    );
    await results.until((m) => m.some((r) => r.body.pipeline === 'acoustic'), 'an acoustic result');
    const r = results.bodies().find((b) => b.pipeline === 'acoustic');
    expect(r?.score).toBe(4); // mean square of ±2, exact in float16
    expect(r?.anomaly).toBe(true); // threshold 2
  });
});

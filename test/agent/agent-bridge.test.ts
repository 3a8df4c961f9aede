import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { validateConfig } from '../../agent/config/load.js';
import type { InferenceResult } from '../../agent/pipeline/result.js';
import type { EmbeddedBroker } from '../../broker/embedded-broker.js';
import { createSensorStream } from '../../models/generate/synthetic.js';
import { connectTestClient, quietLogger, startTestBroker } from '../helpers/broker.js';
import { Collector } from '../helpers/collect.js';

/**
 * An agent that embeds its site's broker and bridges its results to a plant broker: the bridge
 * logs in to the embedded broker with the node key (no password anywhere in the config).
 */

let work: string;
let plant: EmbeddedBroker;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-agent-bridge-'));
  plant = await startTestBroker();
});
afterAll(async () => {
  await plant.stop();
  await rm(work, { recursive: true, force: true });
});

describe('agent with an embedded broker and an upstream bridge', () => {
  it('forwards its results to the plant broker, and nothing it was not told to', async () => {
    const config = validateConfig(
      {
        node: { name: 'bridge-node', dataDir: path.join(work, 'data') },
        log: { level: 'silent' },
        // Only the test's sensor client is anonymous; the agent and its bridge use the node key.
        broker: { enabled: true, port: 0, storage: 'memory', auth: { allowAnonymous: true } },
        bridge: {
          upstream: { url: plant.url },
          topics: [{ filter: 'fieldmesh/v1/pipelines/+/results', qos: 1, remotePrefix: 'site-a/' }],
        },
        models: [
          { id: 'vibration-ae', manifest: path.resolve('models/examples/vibration-ae/manifest.json') },
        ],
        pipelines: [
          {
            id: 'vibration',
            model: 'vibration-ae',
            input: { topic: 'plant/+/vibration', field: 'value', sensor: { from: 'level', level: 1 } },
            window: { stride: 4 },
          },
        ],
      },
      'bridge.yaml',
      { env: {} },
    );
    const agent = new Agent(config, { logger: quietLogger });
    const observer = await connectTestClient(plant.url, { clientId: 'plant-scada' });
    try {
      await agent.start();
      expect(agent.status().failures).toEqual([]);
      const upstream = new Collector<InferenceResult>(observer, () => true);
      await observer.subscribeAsync('#', { qos: 1 });
      const sensors = await connectTestClient(agent.brokerUrl ?? '', { clientId: 'sensors' });
      const stream = createSensorStream({ kind: 'vibration', seed: 3 });
      for (let i = 0; i < 40; i++) {
        await sensors.publishAsync('plant/press-1/vibration', JSON.stringify({ value: stream.next() }), {
          qos: 1,
        });
      }
      await sensors.endAsync();
      // 40 readings, window 32, stride 4: three results, bridged under the remote prefix.
      await upstream.until((m) => m.length >= 3, 'three results on the plant broker', 15_000);
      expect(upstream.messages.map((m) => m.topic)).toEqual(
        Array(3).fill('site-a/fieldmesh/v1/pipelines/vibration/results'),
      );
      expect(upstream.messages.map((m) => m.body.sensor)).toEqual(['press-1', 'press-1', 'press-1']);
    } finally {
      await observer.endAsync(true);
      await agent.stop();
    }
  });
});

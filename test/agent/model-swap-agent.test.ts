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
import { failsOnDataModel, scaledModel } from '../models/swap-fixtures.js';

/**
 * An agent whose model manifest is replaced on disk while readings flow (real broker, real
 * onnxruntime, real file watching): every window gets a result, from the version that ran it.
 */

const W = 8;
let work: string;
let manifestPath: string;
let broker: EmbeddedBroker;
let client: MqttClient;
let agent: Agent;
let results: Collector<InferenceResult>;
let shadow: Collector<InferenceResult>;
let sent = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-swap-agent-'));
  manifestPath = path.join(work, 'vib.json');
  const common = { dir: work, id: 'vib', window: W };
  await scaledModel({ ...common, manifestPath, version: '1.0.0', factor: 1, threshold: 100 });
  const candidate = await scaledModel({
    ...common,
    manifestPath: path.join(work, 'candidate.json'),
    version: '9.0.0',
    factor: 3,
    threshold: 100,
  });
  broker = await startTestBroker();
  client = await connectTestClient(broker.url, { clientId: 'sensors' });
  results = new Collector(client, (t) => t.endsWith('/results'));
  shadow = new Collector(client, (t) => t.endsWith('/shadow'));
  await client.subscribeAsync('fieldmesh/v1/pipelines/+/+', { qos: 1 });
  const config = validateConfig(
    {
      node: { name: 'swap', dataDir: path.join(work, 'data') },
      log: { level: 'silent' },
      mqtt: { url: broker.url, connectTimeoutMs: 3000 },
      models: [
        {
          id: 'vib',
          manifest: manifestPath,
          warmupRuns: 1,
          worker: false,
          swap: { probationCalls: 4, maxErrorRate: 0.25 },
          shadow: { manifest: candidate.manifestPath },
        },
      ],
      pipelines: [
        {
          id: 'press',
          model: 'vib',
          input: { topic: 'plant/+/vib', format: 'number', sensor: { from: 'level', level: 1 } },
          window: { stride: W },
          results: { qos: 1 },
        },
      ],
    },
    'swap.yaml',
    { env: {} },
  );
  agent = new Agent(config, { logger: quietLogger, swapWatch: { debounceMs: 50, pollMs: 0 } });
  await agent.start();
});

afterAll(async () => {
  await agent?.stop();
  await client?.endAsync(true);
  await broker?.stop();
  await rm(work, { recursive: true, force: true });
});

/** One window of W readings, all `value` (the scaled models score factor × value²). */
async function window(value: number): Promise<void> {
  for (let i = 0; i < W; i++) await client.publishAsync('plant/p1/vib', String(value), { qos: 1 });
  sent++;
}

const versions = () => results.bodies().map((r) => r.model.version);
const swaps = () => agent.status().models.find((m) => m.id === 'vib')?.swaps ?? [];

describe('an agent swapping its model while readings flow', () => {
  it('runs the shadow candidate beside the model and publishes both', async () => {
    await window(2);
    await results.until((m) => m.length >= 1, 'the first result');
    await shadow.until((m) => m.length >= 1, 'the first shadow result');
    const [main] = results.bodies();
    const [beside] = shadow.bodies();
    expect(main).toMatchObject({ seq: 1, score: 4, model: { version: '1.0.0' } });
    expect(beside).toMatchObject({ seq: 1, score: 12, model: { version: '9.0.0' }, anomaly: false });
    const stats = agent.status().pipelines[0]?.shadow;
    expect(stats).toMatchObject({
      model: { version: '9.0.0' },
      windows: 1,
      agreement: 1,
      meanAbsScoreDiff: 8,
    });
  });

  it('swaps in a new version written over the manifest, without losing a window', async () => {
    await scaledModel({
      dir: work,
      manifestPath,
      id: 'vib',
      window: W,
      version: '2.0.0',
      factor: 10,
      threshold: 100,
    });
    // Windows keep coming while the new version loads: each gets a result from one version.
    while (!versions().includes('2.0.0')) {
      await window(1);
      await results.until((m) => m.length >= sent, `result ${sent}`);
    }
    for (let i = 0; i < 4; i++) await window(1);
    await results.until((m) => m.length >= sent, `result ${sent}`);
    const bodies = results.bodies();
    expect(bodies.map((r) => r.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    for (const r of bodies.slice(1)) expect(r.score).toBe(r.model.version === '2.0.0' ? 10 : 1);
    expect(versions().at(-1)).toBe('2.0.0');
    expect(swaps().at(-1)).toMatchObject({
      outcome: 'committed',
      from: { version: '1.0.0' },
      to: { version: '2.0.0' },
    });
  });

  it('rolls back a version that fails on live data; the failed windows are scored by the running one', async () => {
    await failsOnDataModel({ dir: work, manifestPath, id: 'vib', window: W, version: '3.0.0' });
    await expect.poll(() => swaps().at(-1)?.outcome, { timeout: 10_000 }).toBe('probation');
    const before = sent;
    for (let i = 0; i < 3; i++) await window(5); // first reading 5: onnxruntime refuses the new version
    await results.until((m) => m.length >= sent, `result ${sent}`);
    const latest = results.bodies().slice(before);
    expect(latest.map((r) => [r.model.version, r.score])).toEqual([
      ['2.0.0', 250],
      ['2.0.0', 250],
      ['2.0.0', 250],
    ]);
    expect(swaps().at(-1)).toMatchObject({ outcome: 'rolled_back', to: { version: '3.0.0' }, failures: 2 });
    expect(agent.status().pipelines[0]?.inferenceFailures).toBe(0);
    expect(agent.status().models[0]).toMatchObject({ version: '2.0.0' });
  });

  it('keeps the running version when a new manifest cannot be loaded, and says why', async () => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(manifestPath, '{"id": "vib", "version": "4.0.0", "file": "missing.onnx"}');
    await expect.poll(() => swaps().at(-1)?.outcome, { timeout: 10_000 }).toBe('refused');
    expect(swaps().at(-1)?.to.version).toBe('4.0.0');
    expect(swaps().at(-1)?.reason).toMatch(/vib\.json: 6 problems in the model manifest\n {2}description: /);
    await window(1);
    await results.until((m) => m.length >= sent, `result ${sent}`);
    expect(results.bodies().at(-1)).toMatchObject({ model: { version: '2.0.0' }, score: 10 });
  });

  it('keeps the running shadow and says why when a new shadow manifest cannot be used', async () => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(work, 'candidate.json'), '{"id": "vib", "version": "10.0.0"');
    await expect
      .poll(() => agent.status().models[0]?.shadowProblem, { timeout: 10_000 })
      .toMatch(/^not loaded: .*candidate\.json/);
    expect(agent.status().models[0]?.shadow?.version).toBe('9.0.0');
    const before = shadow.bodies().length;
    await window(1);
    await shadow.until((m) => m.length > before, 'a shadow result from the running candidate');
    expect(shadow.bodies().at(-1)).toMatchObject({ model: { version: '9.0.0' }, score: 3 });
  });
});

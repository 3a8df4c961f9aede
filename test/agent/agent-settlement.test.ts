import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Agent } from '../../agent/agent.js';
import { validateConfig } from '../../agent/config/load.js';
import type { ReceiptsStatusFile } from '../../agent/receipts/status-file.js';
import type { EmbeddedBroker } from '../../broker/embedded-broker.js';
import { createSensorStream } from '../../models/generate/synthetic.js';
import { identityFromSeed, publicKeyFromPeerId } from '../../protocol/identity.js';
import { closedPort, connectTestClient, quietLogger, startTestBroker } from '../helpers/broker.js';
import { FakeSettlementService } from '../helpers/settlement-server.js';

const service = identityFromSeed(new Uint8Array(32).fill(3));
const WAIT = { timeout: 15_000, interval: 50 };

let broker: EmbeddedBroker;
let sensors: MqttClient;
let work: string;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
  sensors = await connectTestClient(broker.url, { clientId: 'sensors' });
  work = await mkdtemp(path.join(tmpdir(), 'fm-agent-settlement-'));
});

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

afterAll(async () => {
  await sensors.endAsync(true);
  await broker.stop();
});

function config(name: string, url: string) {
  return validateConfig(
    {
      node: { name, dataDir: path.join(work, name) },
      log: { level: 'silent' },
      mqtt: { url: broker.url, connectTimeoutMs: 3000 },
      models: [
        {
          id: 'vibration-ae',
          manifest: path.resolve('models/examples/vibration-ae/manifest.json'),
          warmupRuns: 1,
        },
      ],
      pipelines: [
        {
          id: 'vibration',
          model: 'vibration-ae',
          input: { topic: `${name}/+/vibration`, format: 'number', sensor: { from: 'level', level: 1 } },
          window: { stride: 4 },
          results: { qos: 0 },
        },
      ],
      settlement: {
        url,
        servicePublicKey: service.peerId,
        batch: { maxAgeMs: 0 },
        backoff: { minMs: 50, maxMs: 200 },
        requestTimeoutMs: 1_000,
      },
    },
    'test.yaml',
    { env: {} },
  );
}

async function startAgent(name: string, url: string): Promise<Agent> {
  const agent = new Agent(config(name, url), { logger: quietLogger });
  cleanup.push(() => agent.stop());
  await agent.start();
  expect(agent.status().failures).toEqual([]);
  return agent;
}

async function publish(name: string, n: number, seed: number): Promise<void> {
  const s = createSensorStream({ kind: 'vibration', seed });
  for (let i = 0; i < n; i++) {
    await sensors.publishAsync(`${name}/m1/vibration`, String(s.next()), { qos: 1 });
  }
}

const results = (agent: Agent) => agent.status().pipelines[0]?.results ?? 0;

describe('agent with settlement configured (real broker, onnxruntime, leveldb, HTTP)', () => {
  it('records a receipt per inference call and has every one acknowledged and removed', async () => {
    const fake = new FakeSettlementService(service);
    await fake.listen();
    cleanup.push(() => fake.close());
    const agent = await startAgent('site-a', fake.url);
    await publish('site-a', 32 + 4 * 20, 1); // 21 windows
    await vi.waitFor(() => expect(results(agent)).toBe(21), WAIT);
    await vi.waitFor(() => {
      const r = agent.status().receipts!;
      expect(r.pending).toBe(0);
      expect(r.acknowledgedReceipts).toBe(r.appended);
    }, WAIT);
    const status = agent.status().receipts!;
    expect(status).toMatchObject({ refused: 0, inFlightBatch: null, lastError: null });
    expect(status.lastAckAtMs).not.toBeNull();
    expect(fake.statuses.every((s) => s === 'valid')).toBe(true);
    expect(fake.credited).toHaveLength(status.appended);
    expect(fake.credited.reduce((n, r) => n + r.sampleCount, 0)).toBe(21);
    // Local sensors: this node is both the provider and the consumer of every job.
    const own = Buffer.from(publicKeyFromPeerId(agent.nodeId)).toString('hex');
    for (const r of fake.credited) {
      expect(r.pipelineId).toBe('vibration');
      expect(Buffer.from(r.providerKey).toString('hex')).toBe(own);
      expect(Buffer.from(r.consumerKey).toString('hex')).toBe(own);
    }
    const sequences = fake.credited.map((r) => r.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    await vi.waitFor(async () => {
      const file = JSON.parse(
        await readFile(path.join(work, 'site-a', 'status', 'receipts.json'), 'utf8'),
      ) as ReceiptsStatusFile;
      expect(file).toMatchObject({ nodeId: agent.nodeId, url: fake.url, receipts: { pending: 0 } });
    }, WAIT);
  });

  it('keeps inferring while the service is down, then drains the backlog once it is up', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const agent = await startAgent('site-b', url);
    await publish('site-b', 32 + 4 * 10, 2); // 11 windows
    await vi.waitFor(() => expect(results(agent)).toBe(11), WAIT);
    await vi.waitFor(() => {
      const r = agent.status().receipts!;
      expect(r.lastError?.code).toBe('SETTLEMENT_UNAVAILABLE');
      expect(r.pending).toBe(r.appended);
    }, WAIT);
    const before = agent.status().receipts!.pending;
    expect(before).toBeGreaterThan(0);
    await publish('site-b', 4 * 5, 3); // 5 more windows, still no service
    await vi.waitFor(() => expect(results(agent)).toBe(16), WAIT);
    await vi.waitFor(() => expect(agent.status().receipts!.pending).toBeGreaterThan(before), WAIT);

    const fake = new FakeSettlementService(service);
    await fake.listen(port);
    cleanup.push(() => fake.close());
    await vi.waitFor(() => {
      const r = agent.status().receipts!;
      expect(r.pending).toBe(0);
      expect(r.lastError).toBeNull();
    }, WAIT);
    expect(fake.credited.reduce((n, r) => n + r.sampleCount, 0)).toBe(16);
    expect(fake.statuses.every((s) => s === 'valid')).toBe(true);
  });

  it('stops cleanly with the service down, keeping unsent receipts for the next start', async () => {
    const port = await closedPort();
    const name = 'site-c';
    const first = new Agent(config(name, `http://127.0.0.1:${port}`), { logger: quietLogger });
    await first.start();
    await publish(name, 32, 4); // 1 window
    await vi.waitFor(() => expect(first.status().receipts!.appended).toBe(1), WAIT);
    const stopping = Date.now();
    await first.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000);
    const fake = new FakeSettlementService(service);
    await fake.listen(port);
    cleanup.push(() => fake.close());
    const second = await startAgent(name, fake.url);
    await vi.waitFor(() => expect(fake.credited).toHaveLength(1), WAIT);
    expect(fake.credited[0]!.sequence).toBe(0);
    await vi.waitFor(() => expect(second.status().receipts!.pending).toBe(0), WAIT);
  });
});

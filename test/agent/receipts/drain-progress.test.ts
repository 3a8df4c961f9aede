import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activity } from '../../../agent/activity.js';
import { Agent, type AgentStatus } from '../../../agent/agent.js';
import { validateConfig } from '../../../agent/config/load.js';
import { type AgentApi, createAgentApi } from '../../../agent/http/agent-api.js';
import { loadOrCreateIdentity } from '../../../protocol/keystore.js';
import { SensorPublisher, VIBRATION_MANIFEST } from '../../helpers/agent-process.js';
import { closedPort, quietLogger } from '../../helpers/broker.js';
import { testIdentity } from '../../helpers/receipts.js';
import { startTestSettlement, type TestSettlement } from '../../helpers/settlement-service.js';
import { runCli } from '../cli/run-cli.js';
import { call, until } from '../http/api-client.js';

/**
 * An outbox backlog built while the settlement service is down, then drained on request:
 * the drain is an activity of /v1/status, and `fieldmesh receipts flush` draws it.
 */
const TOKEN = 'drain-progress-token-0123';
const serviceIdentity = testIdentity(41);
let work: string;
let agent: Agent;
let api: AgentApi;
let port: number;
let settlement: TestSettlement | undefined;
let nodeId: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-drain-'));
  const dataDir = path.join(work, 'data');
  nodeId = (await loadOrCreateIdentity(dataDir)).identity.peerId;
  port = await closedPort();
  const config = validateConfig(
    {
      node: { name: 'drain', dataDir },
      log: { level: 'silent' },
      broker: { enabled: true, port: 0, storage: 'memory', auth: { allowAnonymous: true } },
      api: { port: 0, token: TOKEN },
      models: [{ id: 'vibration-ae', manifest: VIBRATION_MANIFEST, warmupRuns: 1 }],
      pipelines: [
        {
          id: 'vibration',
          model: 'vibration-ae',
          input: { topic: 'plant/+/vibration', format: 'number', sensor: { from: 'level', level: 1 } },
          window: { stride: 4 },
          results: { qos: 0 },
        },
      ],
      settlement: {
        url: `http://127.0.0.1:${port}`,
        servicePublicKey: serviceIdentity.peerId,
        requestTimeoutMs: 1_000,
        backoff: { minMs: 50, maxMs: 300 },
        // Small batches, and a partial one waits a minute: only a flush sends it sooner.
        batch: { maxReceipts: 8, maxAgeMs: 60_000 },
        creditsPollMs: 200,
      },
    },
    'drain.yaml',
    { env: {} },
  );
  api = createAgentApi(config, { logger: quietLogger });
  agent = new Agent(config, { logger: quietLogger, pipelineObserver: api.observer });
  await agent.start();
  await api.start(agent);
}, 30_000);

afterAll(async () => {
  await api?.stop();
  await agent?.stop();
  await settlement?.close();
  await rm(work, { recursive: true, force: true });
});

async function status(): Promise<AgentStatus> {
  return (await call(`${api.url}/v1/status`, { token: TOKEN })).json() as unknown as AgentStatus;
}

async function nodeSummary(): Promise<{ credited: number; receipts: Record<string, number> }> {
  const res = await fetch(`${settlement?.url}/v1/nodes/${nodeId}`);
  return (await res.json()) as { credited: number; receipts: Record<string, number> };
}

/** Every receipt made so far acknowledged: what is left after the readings stopped, flushed. */
async function sendAll(): Promise<void> {
  await settled();
  const flush = await call(`${api.url}/v1/receipts/flush`, { method: 'POST', token: TOKEN });
  expect([202, 409]).toContain(flush.status);
  await until(async () => {
    const r = (await status()).receipts;
    return r?.pending === 0 && r.inFlightBatch === null;
  }, 'every receipt acknowledged');
}

async function produce(until_: (s: AgentStatus) => boolean): Promise<void> {
  const sensors = await SensorPublisher.start(
    agent.brokerUrl ?? '',
    ['plant/m1/vibration', 'plant/m2/vibration'],
    {
      seed: 7,
      intervalMs: 5,
    },
  );
  try {
    await until(async () => until_(await status()), 'receipts in the outbox', 15_000);
  } finally {
    await sensors.stop();
  }
}

/**
 * Waits until the last readings have become receipts and the full batches are sent: no batch
 * in flight, less than a batch pending, and no receipt appended for a while.
 */
async function settled(): Promise<AgentStatus['receipts']> {
  let last = { appended: -1, atMs: Date.now() };
  let receipts: AgentStatus['receipts'];
  await until(
    async () => {
      receipts = (await status()).receipts;
      if (receipts === undefined) return false;
      if (receipts.appended !== last.appended) last = { appended: receipts.appended, atMs: Date.now() };
      const quiet = Date.now() - last.atMs >= 500;
      return quiet && receipts.inFlightBatch === null && receipts.pending < 8;
    },
    'the outbox to settle',
    15_000,
  );
  return receipts;
}

/**
 * Full batches go on their own; a partial one left waits for its minute, or a flush. Readings
 * come in pairs (two sensors), so the count left can be a whole batch: then produce again.
 */
async function leavePartialBatch(atLeast: number): Promise<void> {
  for (let attempt = 0; attempt < 4; attempt++) {
    await produce((s) => (s.receipts?.appended ?? 0) >= atLeast && (s.receipts?.pending ?? 0) > 0);
    if (((await settled())?.pending ?? 0) > 0) return;
  }
  throw new Error('every attempt left whole batches only');
}

describe('draining the receipt outbox', () => {
  it('refuses a flush while nothing is pending, then drains a backlog as an activity', async () => {
    const empty = await call(`${api.url}/v1/receipts/flush`, { method: 'POST', token: TOKEN });
    expect(empty.status).toBe(409);
    expect(empty.json()).toMatchObject({ code: 'RECEIPTS_NONE_PENDING' });

    // The service is down: receipts pile up in the outbox.
    await produce((s) => (s.receipts?.pending ?? 0) >= 30);
    // No spot checks: each close credits every batch it holds, so the figures are exact.
    settlement = await startTestSettlement({
      identity: serviceIdentity,
      port,
      registerNodes: [nodeId],
      init: { spotCheckPpm: 0 },
    });

    const flush = await call(`${api.url}/v1/receipts/flush`, { method: 'POST', token: TOKEN });
    expect(flush.status).toBe(202);
    const id = flush.json().activity as string;
    expect(id).toMatch(/^outbox-drain-/);
    const seen: Activity[] = [];
    await until(
      async () => {
        const a = (await status()).activities?.find((x) => x.id === id);
        if (a) seen.push(a);
        return a !== undefined && a.state !== 'running';
      },
      'the drain to end',
      15_000,
    );
    const final = seen.at(-1) as Activity;
    expect(final).toMatchObject({ kind: 'outbox-drain', unit: 'receipts', state: 'done' });
    expect(seen[0]?.total).toBeGreaterThanOrEqual(30);
    const done = seen.map((a) => a.done);
    for (let i = 1; i < done.length; i++) expect(done[i]).toBeGreaterThanOrEqual(done[i - 1] as number);
    expect(final.done).toBeGreaterThanOrEqual(30);
    expect((await status()).receipts?.pending).toBe(0);
  }, 40_000);

  it('`fieldmesh receipts flush` prints progress lines in a pipe and exits 0 once sent', async () => {
    await leavePartialBatch(50);
    const run = await runCli(['receipts', 'flush', '--url', api.url ?? '', '--token', TOKEN]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('receipts outbox …');
    expect(lines.at(-1)).toMatch(/^ok sent \d+ receipts in \d+\.\d s \(sent \d+ receipts, 0 pending\)$/);
    expect(run.stdout).not.toContain('\u001b'); // no colour, no redraw in a pipe
    expect((await status()).receipts?.pending).toBe(0);

    const again = await runCli(['receipts', 'flush', '--url', api.url ?? '', '--token', TOKEN]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('no receipts are pending');
  }, 40_000);

  it('shows the credit of each closed epoch in /v1/status, newest first, with its running total', async () => {
    const s = settlement as TestSettlement;
    await sendAll();
    const first = await s.service.closeEpoch();
    const c1 = (await nodeSummary()).credited;
    expect(c1).toBeGreaterThan(0);
    await until(
      async () => (await status()).receipts?.credits?.epochs[0]?.epoch === first.epoch,
      'the first close in /v1/status',
    );
    expect((await status()).receipts?.credits?.epochs).toEqual([
      {
        epoch: first.epoch,
        closedAtMs: first.closedAtMs,
        credit: c1,
        cumulative: c1,
        receipts: expect.any(Number),
      },
    ]);

    const before = (await status()).receipts?.appended ?? 0;
    await produce((x) => (x.receipts?.appended ?? 0) > before);
    await sendAll();
    const second = await s.service.closeEpoch();
    const summary = await nodeSummary();
    expect(summary.credited).toBeGreaterThan(c1);
    await until(
      async () => (await status()).receipts?.credits?.epochs[0]?.epoch === second.epoch,
      'the second close in /v1/status',
    );
    const epochs = (await status()).receipts?.credits?.epochs ?? [];
    expect(epochs).toMatchObject([
      { epoch: second.epoch, credit: summary.credited - c1, cumulative: summary.credited },
      { epoch: first.epoch, credit: c1, cumulative: c1 },
    ]);
    // Every valid receipt came in with one close or the other.
    expect(epochs.reduce((n, e) => n + (e.receipts ?? 0), 0)).toBe(summary.receipts.valid);
  }, 40_000);

  it('exits 4 naming the URL when no agent answers', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const run = await runCli(['receipts', 'flush', '--url', url]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(url);
  });
});

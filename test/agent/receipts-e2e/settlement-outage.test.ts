import type { MqttClient } from 'mqtt';
import { describe, expect, it, vi } from 'vitest';
import { readStatusFile } from '../../../agent/receipts/status-file.js';
import {
  AgentProcess,
  outboxOnDisk,
  prepareAgent,
  SensorPublisher,
  sensorTopics,
  useWorkspace,
} from '../../helpers/agent-process.js';
import { connectTestClient } from '../../helpers/broker.js';
import { Collector } from '../../helpers/collect.js';
import {
  createSettlementHome,
  ledgerFacts,
  nodeSummaryOver,
  type RunningSettlement,
  startSettlementOn,
} from '../../helpers/settlement-ledger.js';

const PIPELINES = ['line-a', 'line-b'];
const RESULTS = 'fieldmesh/v1/pipelines/+/results';
const STATUS_WAIT = { timeout: 20_000, interval: 100 };

const ws = useWorkspace('fm-outage-');

async function observe(brokerUrl: string): Promise<{ client: MqttClient; results: Collector }> {
  const client = await connectTestClient(brokerUrl, { clientId: 'observer' });
  ws.defer(() => client.endAsync(true));
  const results = new Collector(client, (t) => t.endsWith('/results'));
  await client.subscribeAsync(RESULTS, { qos: 0 });
  return { client, results };
}

describe('settlement service down for a while (real agent process, real service)', () => {
  it('keeps inferring while the service is down, then drains the backlog once, in sequence', async () => {
    const home = await createSettlementHome(ws.dir);
    // Started once for its identity and port, then stopped: the agent meets a closed port.
    const first = await startSettlementOn(home, { init: { spotCheckPpm: 0 } });
    const { port } = first;
    await first.stop();
    const agentFiles = await prepareAgent(ws.dir, 'agent', {
      settlementUrl: `http://127.0.0.1:${port}`,
      servicePublicKey: first.service.identity.peerId,
      pipelines: PIPELINES,
      settlement: { batch: { maxReceipts: 20, maxAgeMs: 200 } },
    });
    const { dataDir, brokerUrl, node } = agentFiles;
    const agent = new AgentProcess(agentFiles.configFile);
    ws.defer(() => agent.kill('SIGKILL'));
    await agent.waitForMessage('agent ready');
    const { results } = await observe(brokerUrl);
    const sensors = await SensorPublisher.start(brokerUrl, sensorTopics(PIPELINES, 2), {
      seed: 7,
      intervalMs: 10,
    });
    ws.defer(() => sensors.stop());

    await agent.waitForMessage('settlement service unavailable; receipts stay in the outbox');
    await results.until((m) => m.length >= 20, 'results while the service is down', 10_000);
    let backlog = 0;
    await vi.waitFor(async () => {
      const r = (await readStatusFile(dataDir))?.receipts;
      expect(r?.lastError?.code).toBe('SETTLEMENT_UNAVAILABLE');
      expect(r?.pending).toBeGreaterThan(0);
      backlog = r!.pending;
    }, STATUS_WAIT);
    // Still down: inference goes on and the outbox keeps growing.
    const resultsSoFar = results.messages.length;
    await vi.waitFor(async () => {
      expect((await readStatusFile(dataDir))?.receipts.pending).toBeGreaterThan(backlog);
    }, STATUS_WAIT);
    expect(results.messages.length).toBeGreaterThan(resultsSoFar);
    expect(agent.messages('batch acknowledged')).toEqual([]);
    expect(results.messages.map((m) => m.topic)).toEqual(
      expect.arrayContaining(PIPELINES.map((p) => `fieldmesh/v1/pipelines/${p}/results`)),
    );

    // Back on the same port and the same ledger.
    const second: RunningSettlement = await startSettlementOn(home, { port, init: { spotCheckPpm: 0 } });
    ws.defer(() => second.stop());
    await agent.waitForMessage('settlement service reachable again', 15_000);
    await sensors.stop();
    await vi.waitFor(async () => {
      const r = (await readStatusFile(dataDir))?.receipts;
      expect(r).toMatchObject({ pending: 0, inFlightBatch: null, acknowledgedReceipts: r?.appended });
      expect(r?.lastError).toBeNull();
    }, STATUS_WAIT);
    expect((await agent.kill('SIGTERM')).code).toBe(0);
    const final = (await readStatusFile(dataDir))!.receipts;
    // A fresh node: everything it made was acknowledged, nothing refused.
    expect(final).toMatchObject({ pending: 0, refused: 0, acknowledgedReceipts: final.appended });
    const outbox = await outboxOnDisk(dataDir);
    expect(outbox).toMatchObject({ stored: 0, inFlight: false, nextSeq: final.appended });

    await second.service.closeEpoch();
    const ledger = await ledgerFacts(home.databaseUrl, node.publicKey);
    expect(ledger.receipts.map((r) => r.sequence)).toEqual(
      Array.from({ length: outbox.nextSeq }, (_, i) => i),
    );
    expect(ledger.equivocations).toBe(0);
    expect(ledger.statuses).toEqual({ valid: outbox.nextSeq });
    const samples = ledger.receipts.reduce((n, r) => n + r.samples, 0);
    const summary = await nodeSummaryOver(second.url, node.peerId);
    expect(summary).toMatchObject({ credited: samples, pending: 0, voided: 0 });
    // Every window the agent published a result for is in a credited receipt.
    expect(samples).toBe(results.messages.length);
  }, 90_000);
});

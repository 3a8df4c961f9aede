import { describe, expect, it, vi } from 'vitest';
import { readStatusFile } from '../../../agent/receipts/status-file.js';
import {
  AgentProcess,
  type PreparedAgent,
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
  type SettlementHome,
  startSettlementOn,
} from '../../helpers/settlement-ledger.js';
import { EXAMPLE_MANIFESTS } from '../../helpers/spotcheck.js';

const PIPELINES = ['line-a'];
const WAIT = { timeout: 20_000, interval: 100 };

const ws = useWorkspace('fm-spotcheck-e2e-');

async function startService(
  home: SettlementHome,
  options: Parameters<typeof startSettlementOn>[1],
): Promise<RunningSettlement> {
  const s = await startSettlementOn(home, options);
  ws.defer(() => s.stop());
  return s;
}

async function startAgent(files: PreparedAgent): Promise<AgentProcess> {
  const agent = new AgentProcess(files.configFile);
  ws.defer(() => agent.kill('SIGKILL'));
  await agent.waitForMessage('agent ready');
  return agent;
}

async function startSensors(files: PreparedAgent): Promise<SensorPublisher> {
  const sensors = await SensorPublisher.start(files.brokerUrl, sensorTopics(PIPELINES, 2), {
    seed: 11,
    intervalMs: 10,
  });
  ws.defer(() => sensors.stop());
  return sensors;
}

const sumOf = (lines: readonly Record<string, unknown>[], field: string) =>
  lines.reduce((n, l) => n + Number(l[field] ?? 0), 0);

describe('agent and the real settlement service, with spot checks', () => {
  it('reveals every challenged receipt from its retention; the batches pass and are credited', async () => {
    const home = await createSettlementHome(ws.dir);
    const settlement = await startService(home, {
      init: { spotCheckPpm: 1_000_000, revealWindowMs: 30_000 },
    });
    const files = await prepareAgent(ws.dir, 'agent', {
      settlementUrl: settlement.url,
      servicePublicKey: settlement.service.identity.peerId,
      pipelines: PIPELINES,
      settlement: { batch: { maxReceipts: 20, maxAgeMs: 200 }, challengePollMs: 100, creditsPollMs: 200 },
    });
    const { node, dataDir } = files;
    const agent = await startAgent(files);
    const sensors = await startSensors(files);
    await agent.waitForMessage('batch acknowledged');
    await sensors.stop();
    await vi.waitFor(async () => {
      const r = (await readStatusFile(dataDir))?.receipts;
      // The file written at start also says pending 0: wait for one that counts the acks.
      expect(r?.appended).toBeGreaterThan(0);
      expect(r).toMatchObject({ pending: 0, inFlightBatch: null, acknowledgedReceipts: r?.appended });
    }, WAIT);
    const before = await nodeSummaryOver(settlement.url, node.peerId);
    expect(before.credited).toBe(0);
    expect(before.pending).toBeGreaterThan(0);
    const stored = (await ledgerFacts(home.databaseUrl, node.publicKey)).receipts.length;

    // Every receipt is picked (1 000 000 ppm): every batch waits for its reveals.
    const challenging = await settlement.service.closeEpoch();
    expect(challenging).toMatchObject({ challenged: stored, credited: 0, voided: 0 });
    await vi.waitFor(async () => {
      expect((await nodeSummaryOver(settlement.url, node.peerId)).openChallenges).toBe(0);
    }, WAIT);
    const answered = agent.messages('spot-check challenges answered');
    expect(sumOf(answered, 'revealed')).toBe(stored);
    expect(sumOf(answered, 'missing') + sumOf(answered, 'failed')).toBe(0);
    expect(settlement.service.stats()).toMatchObject({ reveals_passed: stored });
    expect(settlement.service.stats().reveals_failed).toBeUndefined();

    const settled = await settlement.service.closeEpoch();
    expect(settled.credited).toBeGreaterThan(0);
    expect(settled.voided).toBe(0);
    const ledger = await ledgerFacts(home.databaseUrl, node.publicKey);
    const samples = ledger.receipts.reduce((n, r) => n + r.samples, 0);
    const after = await nodeSummaryOver(settlement.url, node.peerId);
    expect(after).toMatchObject({ credited: samples, pending: 0, voided: 0, openChallenges: 0 });
    expect(after.credited).toBeGreaterThan(0);
    expect(Object.keys(after.batches)).toEqual(['credited']);
    // The agent asks the service too, and shows the same figures in its status.
    await vi.waitFor(async () => {
      const credits = (await readStatusFile(dataDir))?.receipts.credits;
      expect(credits).toMatchObject({
        credited: samples,
        pending: 0,
        voided: 0,
        receipts: { valid: stored },
      });
    }, WAIT);
    expect((await agent.kill('SIGTERM')).code).toBe(0);
  }, 60_000);

  it('a service without the model answers unknown_model: nothing credited, the agent says so and keeps running', async () => {
    const home = await createSettlementHome(ws.dir);
    const temperatureOnly = EXAMPLE_MANIFESTS.filter((m) => !m.includes('vibration'));
    expect(temperatureOnly).toHaveLength(1);
    const settlement = await startService(home, { manifests: temperatureOnly, init: { spotCheckPpm: 0 } });
    const files = await prepareAgent(ws.dir, 'agent', {
      settlementUrl: settlement.url,
      servicePublicKey: settlement.service.identity.peerId,
      pipelines: PIPELINES,
      settlement: { batch: { maxReceipts: 20, maxAgeMs: 200 } },
    });
    const agent = await startAgent(files);
    const observer = await connectTestClient(files.brokerUrl, { clientId: 'observer' });
    ws.defer(() => observer.endAsync(true));
    const results = new Collector(observer, (t) => t.endsWith('/results'));
    await observer.subscribeAsync('fieldmesh/v1/pipelines/+/results', { qos: 0 });
    await startSensors(files);

    const warning = await agent.waitForLog(
      (l) =>
        typeof l.msg === 'string' && l.msg.startsWith('settlement acknowledged receipts without crediting'),
      'the agent to log the receipts the service did not credit',
    );
    expect((warning.refused as Record<string, number>).unknown_model).toBeGreaterThan(0);
    expect(warning.level).toBe(40);
    // Still inferring and still sending after the refusal.
    const seen = results.messages.length;
    await results.until((m) => m.length > seen + 20, 'results after the unknown_model answer', 10_000);
    await agent.waitForNextMessage('batch acknowledged');
    expect(agent.running).toBe(true);

    await settlement.service.closeEpoch();
    const summary = await nodeSummaryOver(settlement.url, files.node.peerId);
    expect(summary.receipts.unknown_model).toBeGreaterThan(0);
    expect(summary.receipts.valid).toBeUndefined();
    expect(summary).toMatchObject({ credited: 0, pending: 0, voided: 0 });
    expect((await ledgerFacts(home.databaseUrl, files.node.publicKey)).receipts).toEqual([]);
    expect((await agent.kill('SIGTERM')).code).toBe(0);
  }, 60_000);
});

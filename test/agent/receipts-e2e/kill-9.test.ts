import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readStatusFile } from '../../../agent/receipts/status-file.js';
import type { NodeIdentity } from '../../../protocol/identity.js';
import {
  AgentProcess,
  outboxOnDisk,
  prepareAgent,
  SensorPublisher,
  seededRandom,
  sensorTopics,
} from '../../helpers/agent-process.js';
import {
  createSettlementHome,
  ledgerFacts,
  nodeSummaryOver,
  type RunningSettlement,
  type SettlementHome,
  startSettlementOn,
} from '../../helpers/settlement-ledger.js';

/**
 * The requirement: at least 20 kill -9s of a real agent process at random points
 * while it batches and sends, then a graceful run; every receipt ends up credited exactly
 * once by the real settlement service (PostgreSQL ledger).
 */
const KILLS = 20;
const PIPELINES = ['line-a', 'line-b'];
const SEED = Number(process.env.FM_KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));

let work: string;
let dataDir: string;
let configFile: string;
let brokerUrl: string;
let node: NodeIdentity;
let home: SettlementHome;
let settlement: RunningSettlement;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-kill9-'));
  home = await createSettlementHome(work);
  settlement = await startSettlementOn(home, { init: { spotCheckPpm: 0 } });
  ({ dataDir, configFile, brokerUrl, node } = await prepareAgent(work, 'agent', {
    settlementUrl: settlement.url,
    servicePublicKey: settlement.service.identity.peerId,
    pipelines: PIPELINES,
    // Small, young batches: one is cut and sent at almost every send-loop tick.
    settlement: { batch: { maxReceipts: 10, maxAgeMs: 200 } },
  }));
});

afterAll(async () => {
  for (const a of agents) if (a.running) await a.kill('SIGKILL');
  await settlement?.stop();
  await rm(work, { recursive: true, force: true });
});

async function startAgent(): Promise<AgentProcess> {
  const agent = new AgentProcess(configFile);
  agents.push(agent);
  await agent.waitForMessage('agent ready');
  return agent;
}

const publish = (run: number) =>
  SensorPublisher.start(brokerUrl, sensorTopics(PIPELINES, 2), {
    seed: 1_000 * run,
    intervalMs: 10,
    clientId: `sensors-${run}`,
  });

const sumOf = (lines: readonly Record<string, unknown>[], field: string) =>
  lines.reduce((n, l) => n + Number(l[field] ?? 0), 0);

describe('kill -9 while batching and sending (real agent process, real settlement service)', () => {
  it(`credits every receipt exactly once after ${KILLS} kill -9s and a graceful restart`, async () => {
    // Replay a failure with FM_KILL_SEED=<seed>.
    console.info(`kill -9 test: FM_KILL_SEED=${SEED}`);
    const random = seededRandom(SEED);
    let killedWithBatchInFlight = 0;
    let loggedAcks = 0;
    for (let run = 0; run < KILLS; run++) {
      const agent = await startAgent();
      const sensors = await publish(run);
      // The send loop ticks once a second: wait for its first batch, so every kill lands
      // while receipts are being made, cut, sent and acknowledged.
      await agent.waitForLog(
        (l) => l.msg === 'batch cut' || l.msg === 'batch acknowledged',
        `run ${run} to send a batch`,
      );
      // The random kill point is the stimulus, not a wait for something to happen.
      await delay(200 + Math.floor(random() * 1_300));
      // Every other run dies just after a batch is cut and recorded in flight, while its POST is
      // about to leave or is under way: the restart must re-send exactly those bytes.
      if (run % 2 === 1) await agent.waitForNextMessage('batch cut', 5_000);
      const exit = await agent.kill('SIGKILL');
      await sensors.stop();
      expect(exit.signal, `run ${run}: ${agent.stderr}`).toBe('SIGKILL');
      const cut = agent.messages('batch cut').map((l) => l.batchSequence);
      const acked = new Set(agent.messages('batch acknowledged').map((l) => l.batchSequence));
      if (cut.some((b) => !acked.has(b))) killedWithBatchInFlight++;
      loggedAcks += sumOf(agent.messages('batch acknowledged'), 'removed');
    }
    expect(agents.every((a) => a.logs.some((l) => l.msg === 'receipt outbox opened'))).toBe(true);
    expect(killedWithBatchInFlight).toBeGreaterThanOrEqual(KILLS / 4);
    const sentAtAll = agents.filter((a) => a.messages('batch acknowledged').length > 0).length;
    expect(sentAtAll, 'runs that had a batch acknowledged before the kill').toBeGreaterThan(KILLS / 2);

    // The graceful run: more receipts, then the backlog drains and the agent stops on SIGTERM.
    const last = await startAgent();
    const backlog = Number(
      (await last.waitForMessage('receipt outbox opened')).pendingReceipts as number | undefined,
    );
    const sensors = await publish(KILLS);
    await last.waitForMessage('batch acknowledged', 10_000);
    await sensors.stop();
    await vi.waitFor(
      async () => {
        const file = await readStatusFile(dataDir);
        expect(file?.pid).toBe(last.pid);
        // The file written at start may say pending 0 too: wait for one that counts this run's acks.
        const r = file?.receipts;
        expect(r?.appended).toBeGreaterThan(0);
        expect(r).toMatchObject({
          pending: 0,
          inFlightBatch: null,
          acknowledgedReceipts: backlog + r!.appended,
        });
      },
      { timeout: 20_000, interval: 100 },
    );
    expect((await last.kill('SIGTERM')).code).toBe(0);
    const final = (await readStatusFile(dataDir))!.receipts;
    expect(final).toMatchObject({ pending: 0, inFlightBatch: null, refused: 0, lastError: null });
    // (c) the agent's own count: everything it held at start plus everything it made was acknowledged.
    expect(final.acknowledgedReceipts).toBe(backlog + final.appended);
    const outbox = await outboxOnDisk(dataDir);
    expect(outbox).toMatchObject({ stored: 0, inFlight: false });

    // Settle what is stored: no spot checks, so the epoch close credits every open batch.
    const closed = await settlement.service.closeEpoch();
    expect(closed.voided).toBe(0);
    const ledger = await ledgerFacts(home.databaseUrl, node.publicKey);
    const summary = await nodeSummaryOver(settlement.url, node.peerId);

    // (b) one receipt per sequence, 0..n-1 with no gap and no repeat, across the pipelines
    // (the outbox numbers receipts per node, not per pipeline); n is the agent's next sequence.
    const sequences = ledger.receipts.map((r) => r.sequence);
    expect(sequences).toEqual(Array.from({ length: outbox.nextSeq }, (_, i) => i));
    expect(new Set(ledger.receipts.map((r) => r.pipeline))).toEqual(new Set(PIPELINES));
    // (a) nothing equivocated, nothing refused; re-sent receipts were answered duplicate and
    // not stored or credited again.
    expect(ledger.equivocations).toBe(0);
    expect(Object.keys(ledger.statuses).filter((s) => s !== 'valid' && s !== 'duplicate')).toEqual([]);
    expect(ledger.statuses.valid).toBe(ledger.receipts.length);
    const samples = ledger.receipts.reduce((n, r) => n + r.samples, 0);
    // creditPerSample is 1 for the registered example model.
    expect(ledger.receipts.every((r) => r.credit === r.samples)).toBe(true);
    expect(ledger.batches.map((b) => b.state)).toEqual(['credited']);
    expect(ledger.batches[0]).toMatchObject({ credit: samples, validCount: ledger.receipts.length });
    expect(summary).toMatchObject({ credited: samples, pending: 0, voided: 0, openChallenges: 0 });
    expect(summary.receipts.valid).toBe(outbox.nextSeq);
    // Acks the agent logged are a lower bound (a kill can land between the ack and its log line).
    expect(loggedAcks + final.acknowledgedReceipts).toBeLessThanOrEqual(ledger.receipts.length);
    console.info(
      `kill -9 test: seed ${SEED}, ${ledger.receipts.length} receipts (${samples} samples) credited once, ` +
        `${ledger.statuses.duplicate ?? 0} duplicates answered, ${killedWithBatchInFlight}/${KILLS} kills ` +
        `with a batch in flight, ${sentAtAll}/${KILLS} runs acknowledged a batch`,
    );
  }, 150_000);
});

import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { receiptsCommand } from '../../../agent/cli/commands/receipts.js';
import { createOutbox } from '../../../agent/receipts/outbox.js';
import { writeStatusFile } from '../../../agent/receipts/status-file.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import { loadOrCreateIdentity } from '../../../protocol/keystore.js';
import { closedPort } from '../../helpers/broker.js';
import { receiptBody } from '../../helpers/receipts.js';
import { FakeSettlementService } from '../../helpers/settlement-server.js';

const service = identityFromSeed(new Uint8Array(32).fill(3));
let work: string;
let out: string;
const cleanup: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-cli-receipts-'));
  out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  vi.stubEnv('FIELDMESH_SETTLEMENT_URL', undefined);
  vi.stubEnv('FIELDMESH_DATA_DIR', undefined);
});

afterEach(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  for (const fn of cleanup.splice(0)) await fn();
});

async function runningAgentStatus(dataDir: string, url: string, nodeId: string): Promise<void> {
  await writeStatusFile(dataDir, {
    nodeId,
    url,
    pid: process.pid,
    updatedAtMs: Date.now(),
    receipts: {
      pending: 3,
      inFlightBatch: 7,
      appended: 140,
      refused: 2,
      acknowledgedReceipts: 137,
      lastAckAtMs: Date.now() - 4_000,
      lastError: null,
    },
  });
}

describe('fieldmesh receipts', () => {
  it("shows a running agent's outbox and the credit the service reports", async () => {
    const fake = new FakeSettlementService(service);
    await fake.listen();
    cleanup.push(() => fake.close());
    fake.nodeAnswer = {
      node: 'x',
      credited: 120,
      pending: 17,
      voided: 0,
      receipts: { valid: 137, duplicate: 1 },
      lastEpoch: { epoch: 4, cumulative: 118 },
      registered: true,
      openChallenges: 1,
      // The fake answers /v1/nodes/<id>/epochs with the same body: the list is read from here.
      epochs: [
        {
          epoch: 4,
          closedAtMs: Date.parse('2026-03-01T10:00:00Z'),
          credit: 18,
          cumulative: 118,
          receipts: 20,
        },
        {
          epoch: 3,
          closedAtMs: Date.parse('2026-03-01T09:00:00Z'),
          credit: 100,
          cumulative: 100,
          receipts: null,
        },
        ...[2, 1, 0].map((epoch) => ({ epoch, closedAtMs: null, credit: 0, cumulative: 0, receipts: 0 })),
      ],
    };
    const dataDir = path.join(work, 'data');
    const { identity } = await loadOrCreateIdentity(dataDir);
    await runningAgentStatus(dataDir, fake.url, identity.peerId);
    const config = path.join(work, 'site.yaml');
    await writeFile(
      config,
      `node: { dataDir: ./data }\nsettlement: { url: "${fake.url}", servicePublicKey: ${service.peerId} }\n`,
    );
    expect(await receiptsCommand(['--config', config])).toBe(0);
    expect(out).toContain(identity.peerId);
    expect(out).toMatch(/running agent/);
    expect(out).toMatch(/outbox +3 receipts pending, batch 7 in flight/);
    expect(out).toMatch(/140 since the agent started, 2 refused/);
    expect(out).toMatch(/last ack .*\(4 s ago\)/);
    expect(out).toMatch(/credited +120 \(pending 17, voided 0\)/);
    expect(out).toMatch(/receipts +valid 137, duplicate 1/);
    expect(out).toMatch(/last epoch 4 \(cumulative credit 118\)/);
    expect(out).toMatch(/challenges 1 open spot checks/);
    expect(out).toContain('  epoch 4 closed 2026-03-01T10:00:00.000Z: +18 (total 118, 20 receipts)');
    expect(out).toContain('  epoch 3 closed 2026-03-01T09:00:00.000Z: +100 (total 100)');
    expect(out).toContain('  epoch 1 closed ?: +0 (total 0, 0 receipts)');
    expect(out).not.toContain('epoch 0 closed'); // the text lists the last four only

    out = '';
    expect(await receiptsCommand(['--data-dir', dataDir, '--json'])).toBe(0);
    const json = JSON.parse(out) as {
      local: { source: string; pending: number };
      service: { credited: number; epochs: { epoch: number }[] };
    };
    expect(json.local).toMatchObject({ source: 'agent', pending: 3, refused: 2 });
    expect(json.service).toMatchObject({ reachable: true, credited: 120 });
    expect(json.service.epochs.map((e) => e.epoch)).toEqual([4, 3, 2, 1, 0]);
  });

  it('says in one line that the service is unreachable, and exits 4', async () => {
    const dataDir = path.join(work, 'data');
    const { identity } = await loadOrCreateIdentity(dataDir);
    await runningAgentStatus(dataDir, `http://127.0.0.1:${await closedPort()}`, identity.peerId);
    expect(await receiptsCommand(['--data-dir', dataDir])).toBe(4);
    expect(out).toMatch(/outbox +3 receipts pending/);
    const line = out.split('\n').find((l) => l.includes('unreachable'));
    expect(line).toMatch(
      /^credited +unknown: settlement service http:\/\/127\.0\.0\.1:\d+ unreachable \(.+\)$/,
    );
    expect(out).not.toMatch(/\n\s+at /);
  });

  it('reads the outbox itself when no agent runs', async () => {
    const dataDir = path.join(work, 'data');
    const { identity } = await loadOrCreateIdentity(dataDir);
    const outbox = createOutbox(
      {
        dir: path.join(dataDir, 'receipts'),
        maxDiskBytes: 1_000_000,
        policy: { maxReceipts: 10, maxAgeMs: 60_000, maxBytes: 100_000 },
      },
      { logger: pino({ level: 'silent' }), now: Date.now, identity },
    );
    await outbox.start();
    for (let i = 0; i < 2; i++)
      await outbox.append(receiptBody({ provider: identity, consumer: identity }, i));
    await outbox.stop();
    expect(await receiptsCommand(['--data-dir', dataDir, '--json'])).toBe(0);
    const json = JSON.parse(out) as { url: string | null; local: Record<string, unknown>; service: unknown };
    expect(json.local).toMatchObject({
      source: 'outbox',
      pending: 2,
      inFlightBatch: null,
      lastAckAtMs: null,
    });
    expect(json.url).toBeNull();
    expect(json.service).toBeNull();
  });

  it('says receipts are off when the configuration has no settlement section', async () => {
    const config = path.join(work, 'plain.yaml');
    await writeFile(config, 'log: { level: warn }\n');
    expect(await receiptsCommand(['--config', config])).toBe(0);
    expect(out).toContain('receipts are off');
  });
});

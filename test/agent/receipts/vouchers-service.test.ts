import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SettlementConfig } from '../../../agent/config/schema.js';
import type { ReceiptJob } from '../../../agent/pipeline/receipt-sink.js';
import { createOutbox } from '../../../agent/receipts/outbox.js';
import { createReceiptService, type ReceiptService } from '../../../agent/receipts/service.js';
import { decodeReceipt } from '../../../protocol/receipt.js';
import { decodeSubmission } from '../../../protocol/submission.js';
import { signVoucher } from '../../../protocol/voucher.js';
import { quietLogger } from '../../helpers/broker.js';
import { testIdentity } from '../../helpers/receipts.js';
import { startTestSettlement, type TestSettlement } from '../../helpers/settlement-service.js';
import { EXAMPLE_MANIFESTS, honestJob } from '../../helpers/spotcheck.js';

const provider = testIdentity(1);
const consumer = testIdentity(2);
const sessionA = new Uint8Array(16).fill(0xa1);
const sessionB = new Uint8Array(16).fill(0xb2);
const pipelineOf = (s: Uint8Array) => `offload/${Buffer.from(s).toString('hex')}`;

function config(url: string, servicePublicKey: string): SettlementConfig {
  return {
    url,
    servicePublicKey,
    batch: { maxReceipts: 500, maxAgeMs: 0, maxBytes: 1 << 20 },
    outbox: { maxBytes: 1 << 24 },
    retention: { maxAgeMs: 3_600_000, maxBytes: 1 << 24 },
    requestTimeoutMs: 2_000,
    backoff: { minMs: 50, maxMs: 200 },
    challengePollMs: 3_600_000,
  } as SettlementConfig;
}

/** A job; `sequence` is the offload session's, as the provider hands it over. */
function job(
  pipelineId: string,
  consumerKey: Uint8Array,
  model: Uint8Array,
  n: number,
  sequence?: number,
): ReceiptJob {
  return {
    ...(sequence === undefined ? {} : { sequence }),
    pipelineId,
    consumerKey,
    modelSha256: model,
    inputDigest: new Uint8Array(32).fill(n),
    outputDigest: new Uint8Array(32).fill(7),
    startTimeMs: Date.now(),
    computeTimeUs: 1_000,
    sampleCount: 1,
    input: new Uint8Array(4),
    output: new Uint8Array(4),
  };
}

describe('receipt service with offloaded work', () => {
  let dataDir: string;
  let receipts: ReceiptService | undefined;
  let settlement: TestSettlement | undefined;
  afterEach(async () => {
    await receipts?.stop();
    await settlement?.close();
    receipts = undefined;
    settlement = undefined;
    await rm(dataDir, { recursive: true, force: true });
  });

  it("writes offload receipts with the session's sequence, beside local ones the outbox numbers", async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'fm-offload-receipts-'));
    const model = new Uint8Array(32).fill(5);
    // Nothing listens there: the receipts stay in the outbox for the test to read.
    receipts = createReceiptService(
      { settlement: config('http://127.0.0.1:9', provider.peerId), dataDir },
      { logger: quietLogger, identity: provider },
    );
    await receipts.start();
    const jobs = [
      job('vibration', provider.publicKey, model, 1),
      job(pipelineOf(sessionA), consumer.publicKey, model, 2, 1),
      job(pipelineOf(sessionB), consumer.publicKey, model, 3, 1),
      job(pipelineOf(sessionA), consumer.publicKey, model, 4, 2),
      job('vibration', provider.publicKey, model, 5),
      job(pipelineOf(sessionA), consumer.publicKey, model, 6, 3),
    ];
    for (const j of jobs) receipts.sink.record(j);
    await receipts.stop();
    receipts = undefined;
    const outbox = createOutbox(
      {
        dir: join(dataDir, 'receipts'),
        maxDiskBytes: 1 << 24,
        policy: { maxReceipts: 500, maxAgeMs: 0, maxBytes: 1 << 20 },
      },
      { logger: quietLogger, now: Date.now, identity: provider },
    );
    await outbox.start();
    const batch = await outbox.nextBatch();
    await outbox.stop();
    const got = decodeSubmission(batch?.submission ?? new Uint8Array()).receiptBodies.map(decodeReceipt);
    const seen = got
      .map((r) => [
        r.inputDigest[0],
        r.pipelineId,
        r.sequence,
        Buffer.from(r.consumerKey).equals(consumer.publicKey),
      ])
      .sort((a, b) => Number(a[0]) - Number(b[0]));
    expect(seen).toEqual([
      [1, 'vibration', 0, false],
      [2, pipelineOf(sessionA), 1, true],
      [3, pipelineOf(sessionB), 1, true],
      [4, pipelineOf(sessionA), 2, true],
      [5, 'vibration', 1, false],
      [6, pipelineOf(sessionA), 3, true],
    ]);
    for (const r of got) expect(Buffer.from(r.providerKey).equals(provider.publicKey)).toBe(true);
  });

  it('sends held vouchers to the settlement service, which credits the vouched offload receipts', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'fm-offload-receipts-'));
    settlement = await startTestSettlement({ init: { spotCheckPpm: 0 } });
    const model = Buffer.from((await honestJob(EXAMPLE_MANIFESTS[0] as string, 1)).modelSha256Hex, 'hex');
    receipts = createReceiptService(
      { settlement: config(settlement.url, settlement.service.identity.peerId), dataDir },
      { logger: quietLogger, identity: provider },
    );
    await receipts.start();
    for (let n = 1; n <= 3; n++)
      receipts.sink.record(job(pipelineOf(sessionA), consumer.publicKey, model, n, n));
    const v = signVoucher(
      {
        consumerKey: consumer.publicKey,
        providerKey: provider.publicKey,
        sessionId: sessionA,
        sequence: 1,
        jobs: 2,
        computeUs: 2_000,
        highestReceiptSequence: 2,
        issuedAtMs: Date.now(),
      },
      consumer.secretKey,
    );
    expect(receipts.vouchers.accept(v)).toEqual({ outcome: 'stored' });
    await vi.waitFor(
      () => {
        const s = receipts?.status();
        expect(s?.vouchers).toMatchObject({ sessions: 1, unsent: 0, acknowledged: 1 });
        expect(s?.pending).toBe(0);
      },
      { timeout: 20_000, interval: 100 },
    );
    await settlement.service.closeEpoch();
    const node = (await (await fetch(`${settlement.url}/v1/nodes/${provider.peerId}`)).json()) as {
      credited: number;
      offload: { vouchedReceipts: number; withheldReceipts: number };
    };
    expect(node.offload).toMatchObject({ vouchedReceipts: 2, withheldReceipts: 1 });
    expect(node.credited).toBe(2);
  });
});

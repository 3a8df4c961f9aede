import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import type { MqttLink } from '../../../agent/mqtt/link.js';
import { OffloadClient } from '../../../agent/offload/consumer.js';
import { OffloadUnavailableError } from '../../../agent/offload/errors.js';
import { OffloadProvider } from '../../../agent/offload/provider.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import type { NodeIdentity } from '../../../protocol/identity.js';
import {
  decodeOffloadRequest,
  decodeVoucherMessage,
  type OffloadRequest,
  offloadPipelineId,
} from '../../../protocol/offload.js';
import { topicsFor } from '../../../protocol/topics.js';
import { type Voucher, verifyVoucher } from '../../../protocol/voucher.js';
import { connectTestClient, quietLogger, startTestBroker } from '../../helpers/broker.js';
import { deferred, recordEvents, withTimeout } from '../../helpers/wait-for.js';
import {
  bytesByName,
  loadExampleModels,
  MemoryPeerDirectory,
  MemoryVoucherSink,
  meshPeer,
  newIdentity,
  nodeLink,
  RecordingReceiptSink,
  windows,
} from './helpers.js';

const topics = topicsFor();
let models: ModelRuntime[];
let model: ModelRuntime;

beforeAll(async () => {
  models = await loadExampleModels();
  model = models[0]!;
});
afterAll(async () => {
  for (const m of models ?? []) await m.close();
});

/** The (pipeline, sequence) keys the receipts outbox of one provider process would give its jobs. */
function receiptKeys(receipts: RecordingReceiptSink): string[] {
  return receipts.jobs.map((j) => `${j.pipelineId}#${j.sequence}`);
}

describe('offload across a provider restart', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let broker: EmbeddedBroker;
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  beforeEach(async () => {
    broker = await startTestBroker();
    cleanup.push(() => broker.stop());
  });

  /** One provider process: empty sessions and receipt counters, as after a power cut. */
  async function providerProcess(identity: NodeIdentity, link: MqttLink) {
    const receipts = new RecordingReceiptSink();
    const vouchers = new MemoryVoucherSink();
    const provider = new OffloadProvider(
      { slots: 4 },
      { link, identity, models: () => models, receipts, vouchers, logger: quietLogger },
    );
    await provider.start();
    cleanup.push(() => provider.stop());
    return { provider, receipts, vouchers };
  }

  it('opens a new session when the provider no longer knows the old one, never reusing a sequence', async () => {
    const identity = newIdentity();
    const link = nodeLink(broker.url, identity);
    await link.start();
    cleanup.push(() => link.stop());
    const before = await providerProcess(identity, link);

    const peers = new MemoryPeerDirectory();
    peers.set(meshPeer(identity, models));
    const consumer = newIdentity();
    const consumerLink = nodeLink(broker.url, consumer);
    await consumerLink.start();
    cleanup.push(() => consumerLink.stop());
    const client = new OffloadClient(
      { timeoutMs: 3000, maxInFlightPerPeer: 4, voucherEveryResponses: 100, voucherIntervalMs: 60_000 },
      { link: consumerLink, identity: consumer, peers, logger: quietLogger },
    );
    await client.start();
    cleanup.push(() => client.stop());

    // Vouchers on the wire, whoever (if anyone) keeps them.
    const wire = await connectTestClient(broker.url, { clientId: `vouchers-${Math.random()}` });
    cleanup.push(() => wire.endAsync(true));
    const sent: Voucher[] = [];
    const twoSent = deferred();
    wire.on('message', (_t, payload) => {
      if (sent.push(verifyVoucher(decodeVoucherMessage(payload))) === 2) twoSent.resolve();
    });
    await wire.subscribeAsync(topics.vouchers(identity.peerId), { qos: 1 });

    for (let i = 0; i < 2; i++) await client.run(model.sha256, windows(1, 32, i), 1, 32);
    expect(before.receipts.jobs).toHaveLength(2);
    const oldPipeline = before.receipts.jobs[0]!.pipelineId;

    await before.provider.stop(); // power cut: the sessions and receipt counters are gone
    const after = await providerProcess(identity, link);

    const inputs = [7, 8].map((seed) => windows(1, 32, seed));
    const results = await withTimeout(
      Promise.all(inputs.map((input) => client.run(model.sha256, input, 1, 32))),
      'the runs after the restart',
    );
    for (const [i, result] of results.entries()) {
      expect(result.provider).toBe(identity.peerId);
      expect(bytesByName(result.outputs)).toEqual(bytesByName((await model.run(inputs[i]!, 1)) as never));
    }

    // Both requests found the session unknown; one new session serves both retries.
    expect(client.stats()).toMatchObject({
      ok: 4,
      sent: 6,
      retried: 0,
      sessionsRestarted: 1,
      failed: { unknown_session: 2 },
    });
    expect(after.provider.stats().answered).toMatchObject({ unknown_session: 2, ok: 2 });
    expect(after.provider.stats()).toMatchObject({ calls: 2, sessions: 1 });

    const newPipelines = new Set(after.receipts.jobs.map((j) => j.pipelineId));
    expect(newPipelines.size).toBe(1);
    const [newPipeline] = newPipelines;
    expect(newPipeline).not.toBe(oldPipeline);
    const beforeKeys = receiptKeys(before.receipts);
    const afterKeys = receiptKeys(after.receipts);
    expect(beforeKeys).toEqual([`${oldPipeline}#1`, `${oldPipeline}#2`]);
    expect(afterKeys).toEqual([`${newPipeline}#1`, `${newPipeline}#2`]);

    // The old session's work still gets its final voucher; the new one's is stored.
    const verdicts = recordEvents<[{ outcome: string }]>(after.provider, 'voucher');
    await client.stop();
    await withTimeout(twoSent.promise, 'a final voucher per session');
    const byPipeline = new Map(sent.map((v) => [offloadPipelineId(v.sessionId), v]));
    expect(byPipeline.get(oldPipeline)).toMatchObject({ sequence: 1, jobs: 2, highestReceiptSequence: 2 });
    expect(byPipeline.get(newPipeline!)).toMatchObject({ sequence: 1, jobs: 2, highestReceiptSequence: 2 });
    await verdicts.waitForCount(2);
    expect(after.provider.stats().vouchers).toMatchObject({ stored: 1, refused: { unknown_session: 1 } });
  });

  it('gives up a session whose opening request went unanswered, since the provider may have opened it', async () => {
    const silent = newIdentity();
    const listener = await connectTestClient(broker.url, { clientId: `silent-${Math.random()}` });
    cleanup.push(() => listener.endAsync(true));
    const requests: OffloadRequest[] = [];
    listener.on('message', (_t, payload) => requests.push(decodeOffloadRequest(payload)));
    await listener.subscribeAsync(topics.offloadRequests(silent.peerId), { qos: 1 });
    const peers = new MemoryPeerDirectory();
    peers.set(meshPeer(silent, models));
    const consumer = newIdentity();
    const consumerLink = nodeLink(broker.url, consumer);
    await consumerLink.start();
    cleanup.push(() => consumerLink.stop());
    const client = new OffloadClient(
      { timeoutMs: 200, maxInFlightPerPeer: 4, voucherEveryResponses: 100, voucherIntervalMs: 60_000 },
      { link: consumerLink, identity: consumer, peers, logger: quietLogger },
    );
    await client.start();
    cleanup.push(() => client.stop());

    for (let i = 0; i < 2; i++) {
      await expect(client.run(model.sha256, windows(1, 32, i), 1, 32)).rejects.toBeInstanceOf(
        OffloadUnavailableError,
      );
    }
    expect(requests).toHaveLength(2);
    expect(requests.map((r) => r.opening)).toEqual([true, true]);
    expect(Buffer.from(requests[1]!.sessionId)).not.toEqual(Buffer.from(requests[0]!.sessionId));
    expect(client.stats()).toMatchObject({ timeouts: 2, sessionsRestarted: 0 });
  });
});

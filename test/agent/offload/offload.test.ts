import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import { OffloadClient, type OffloadClientInit } from '../../../agent/offload/consumer.js';
import { OffloadProvider } from '../../../agent/offload/provider.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { encodeCbor } from '../../../protocol/cbor.js';
import type { NodeIdentity } from '../../../protocol/identity.js';
import {
  decodeOffloadResponse,
  encodeOffloadRequest,
  encodeVoucherMessage,
  type OffloadResponse,
  sessionIdOfPipelineId,
} from '../../../protocol/offload.js';
import { outputBytes, sha256 } from '../../../protocol/tensors.js';
import { topicsFor } from '../../../protocol/topics.js';
import { signVoucher } from '../../../protocol/voucher.js';
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
let vibration: ModelRuntime;

beforeAll(async () => {
  models = await loadExampleModels();
  vibration = models[0]!;
});
afterAll(async () => {
  for (const m of models ?? []) await m.close();
});

describe('offload over a real broker', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let broker: EmbeddedBroker;
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function startBroker(): Promise<EmbeddedBroker> {
    broker = await startTestBroker();
    cleanup.push(() => broker.stop());
    return broker;
  }

  async function providerNode(opts: { slots?: number } = {}) {
    const identity = newIdentity();
    const link = nodeLink(broker.url, identity);
    await link.start();
    cleanup.push(() => link.stop());
    const receipts = new RecordingReceiptSink();
    const vouchers = new MemoryVoucherSink();
    const provider = new OffloadProvider(
      { slots: opts.slots ?? 4 },
      { link, identity, models: () => models, receipts, vouchers, logger: quietLogger },
    );
    await provider.start();
    cleanup.push(() => provider.stop());
    return { identity, link, provider, receipts, vouchers };
  }

  async function consumerNode(peers: MemoryPeerDirectory, init: Partial<OffloadClientInit> = {}) {
    const identity = newIdentity();
    const link = nodeLink(broker.url, identity);
    await link.start();
    cleanup.push(() => link.stop());
    const client = new OffloadClient(
      {
        timeoutMs: 3000,
        maxInFlightPerPeer: 4,
        voucherEveryResponses: 100,
        voucherIntervalMs: 60_000,
        ...init,
      },
      { link, identity, peers, logger: quietLogger },
    );
    await client.start();
    cleanup.push(() => client.stop());
    return { identity, link, client };
  }

  async function observer(): Promise<MqttClient> {
    const c = await connectTestClient(broker.url, { clientId: `observer-${Math.random()}` });
    cleanup.push(() => c.endAsync(true));
    return c;
  }

  it('returns outputs byte-identical to local inference and records one receipt per call', async () => {
    await startBroker();
    const p = await providerNode();
    const peers = new MemoryPeerDirectory();
    peers.set(meshPeer(p.identity, models));
    const c = await consumerNode(peers);
    for (const [i, model] of models.entries()) {
      const rows = 3;
      const input = windows(rows, model.windowSize, i);
      const result = await c.client.run(model.sha256, input, rows, model.windowSize);
      const local = await model.run(input, rows);
      expect(result.provider).toBe(p.identity.peerId);
      expect(bytesByName(result.outputs)).toEqual(bytesByName(local as never));
      for (const [name, t] of Object.entries(local)) expect(result.outputs[name]?.dims).toEqual(t.dims);
      expect(result.outputs.score?.type).toBe('float32');
    }
    expect(p.receipts.jobs).toHaveLength(2);
    const [first, second] = p.receipts.jobs;
    expect(first!.pipelineId).toBe(second!.pipelineId); // one session per provider
    expect(sessionIdOfPipelineId(first!.pipelineId)).not.toBeNull();
    expect(Buffer.from(first!.consumerKey)).toEqual(Buffer.from(c.identity.publicKey));
    expect(Buffer.from(first!.modelSha256).toString('hex')).toBe(models[0]!.sha256);
    expect(first!.sampleCount).toBe(3);
    const input = windows(3, models[0]!.windowSize, 0);
    expect(first!.inputDigest).toEqual(sha256(new Uint8Array(input.buffer)));
    expect(Buffer.from(first!.output)).toEqual(
      Buffer.from(outputBytes((await models[0]!.run(input, 3)) as never)),
    );
    expect(c.client.stats()).toMatchObject({ sent: 2, ok: 2, inFlight: 0, retried: 0 });
  });

  it('signs cumulative vouchers that the provider verifies, and reports a replayed one as stale', async () => {
    await startBroker();
    const p = await providerNode();
    const peers = new MemoryPeerDirectory();
    peers.set(meshPeer(p.identity, models));
    const c = await consumerNode(peers, { voucherEveryResponses: 2 });
    const seen = await observer();
    const captured: Buffer[] = [];
    const threeCaptured = deferred();
    seen.on('message', (_t, payload) => {
      if (captured.push(payload) === 3) threeCaptured.resolve();
    });
    await seen.subscribeAsync(topics.vouchers(p.identity.peerId), { qos: 1 });
    const verdicts = recordEvents<[{ outcome: string }]>(p.provider, 'voucher');

    for (let i = 0; i < 5; i++) await c.client.run(vibration.sha256, windows(1, 32, i), 1, 32);
    await verdicts.waitForCount(2);
    await c.client.stop(); // the final voucher covers the fifth response
    await verdicts.waitForCount(3);
    expect(verdicts.seen.map(([v]) => v.outcome)).toEqual(['stored', 'stored', 'stored']);
    expect(c.client.stats().vouchersSigned).toBe(3);
    const [latest] = [...p.vouchers.latest.values()];
    expect(latest).toMatchObject({ sequence: 3, jobs: 5, highestReceiptSequence: 5 });
    expect(Buffer.from(latest!.consumerKey)).toEqual(Buffer.from(c.identity.publicKey));
    const receiptSession = sessionIdOfPipelineId(p.receipts.jobs[0]!.pipelineId);
    expect(Buffer.from(latest!.sessionId)).toEqual(Buffer.from(receiptSession!));
    const reported = p.receipts.jobs.reduce((n, j) => n + j.computeTimeUs, 0);
    expect(latest!.computeUs).toBeLessThanOrEqual(reported);

    // Replaying the first voucher: valid, but superseded.
    await withTimeout(threeCaptured.promise, 'the vouchers on the wire');
    const stale = recordEvents<[{ outcome: string }]>(p.provider, 'voucher');
    await seen.publishAsync(topics.vouchers(p.identity.peerId), captured[0]!, { qos: 1 });
    await stale.waitForCount(1);
    expect(stale.seen[0]![0].outcome).toBe('stale');
    expect(p.provider.stats().vouchers).toMatchObject({ received: 4, stored: 3, stale: 1 });
  });

  it('refuses vouchers for sessions it never served, for other providers, or badly signed', async () => {
    await startBroker();
    const p = await providerNode();
    const stranger = newIdentity();
    const other = newIdentity();
    const seen = await observer();
    const verdicts = recordEvents<[{ outcome: string; reason?: string }]>(p.provider, 'voucher');
    const body = {
      consumerKey: stranger.publicKey,
      providerKey: p.identity.publicKey,
      sessionId: new Uint8Array(16).fill(1),
      sequence: 1,
      jobs: 1_000_000,
      computeUs: 1,
      highestReceiptSequence: 1,
      issuedAtMs: Date.now(),
    };
    const unknown = encodeVoucherMessage(signVoucher(body, stranger.secretKey));
    const elsewhere = encodeVoucherMessage(
      signVoucher({ ...body, providerKey: other.publicKey }, stranger.secretKey),
    );
    const forged = signVoucher(body, stranger.secretKey);
    const badSig = encodeVoucherMessage({ ...forged, signature: new Uint8Array(64).fill(3) });
    for (const payload of [unknown, elsewhere, badSig, Uint8Array.of(0xff)]) {
      await seen.publishAsync(topics.vouchers(p.identity.peerId), Buffer.from(payload), { qos: 1 });
    }
    await verdicts.waitForCount(4);
    expect(verdicts.seen.map(([v]) => v.reason)).toEqual([
      'unknown_session',
      'wrong_provider',
      'bad_signature',
      'malformed',
    ]);
    expect(p.vouchers.outcomes).toHaveLength(0);
  });

  it('counts malformed requests, answers bad_request where it can, expired past the deadline', async () => {
    await startBroker();
    const p = await providerNode();
    const consumer = newIdentity();
    const seen = await observer();
    const answers: OffloadResponse[] = [];
    const got = deferred();
    seen.on('message', (_t, payload) => {
      answers.push(decodeOffloadResponse(payload));
      if (answers.length === 3) got.resolve();
    });
    await seen.subscribeAsync(topics.offloadResponses(consumer.peerId), { qos: 1 });
    const handled = recordEvents(p.provider, 'handled');
    const req = request(consumer, vibration);
    const reqTopic = topics.offloadRequests(p.identity.peerId);
    await seen.publishAsync(reqTopic, Buffer.from('not cbor at all'), { qos: 1 });
    await seen.publishAsync(reqTopic, Buffer.from(encodeCbor([1, 2, 3])), { qos: 1 });
    await seen.publishAsync(
      reqTopic,
      Buffer.from(encodeOffloadRequest({ ...req, correlationId: 7, rows: 2 })),
      {
        qos: 1,
      },
    );
    await seen.publishAsync(
      reqTopic,
      Buffer.from(encodeOffloadRequest({ ...req, correlationId: 8, deadlineMs: 1 })),
      {
        qos: 1,
      },
    );
    const sha = new Uint8Array(32).fill(9);
    await seen.publishAsync(
      reqTopic,
      Buffer.from(encodeOffloadRequest({ ...req, correlationId: 9, modelSha256: sha })),
      {
        qos: 1,
      },
    );
    await handled.waitForCount(5);
    await withTimeout(got.promise, 'three answers');
    const byId = new Map(answers.map((a) => [a.correlationId, a]));
    expect(byId.get(7)?.status).toBe('bad_request');
    expect(byId.get(7)?.error).toMatch(/input/);
    expect(byId.get(8)?.status).toBe('expired');
    expect(byId.get(9)?.status).toBe('no_such_model');
    expect(p.provider.stats().malformed).toEqual({ body: 2, input: 1 });
    expect(p.provider.stats().calls).toBe(0);
  });
});

function request(consumer: NodeIdentity, model: ModelRuntime) {
  return {
    correlationId: 1,
    sessionId: new Uint8Array(16).fill(5),
    consumer: consumer.peerId,
    modelSha256: Buffer.from(model.sha256, 'hex'),
    rows: 1,
    width: model.windowSize,
    input: new Uint8Array(windows(1, model.windowSize, 1).buffer),
    deadlineMs: Date.now() + 60_000,
    opening: true,
  };
}

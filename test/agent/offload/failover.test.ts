import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import { OffloadClient, type OffloadClientInit } from '../../../agent/offload/consumer.js';
import { OffloadUnavailableError } from '../../../agent/offload/errors.js';
import { OffloadProvider } from '../../../agent/offload/provider.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { topicsFor } from '../../../protocol/topics.js';
import { connectTestClient, quietLogger, startTestBroker } from '../../helpers/broker.js';
import { deferred, withTimeout } from '../../helpers/wait-for.js';
import {
  bytesByName,
  gatedModel,
  loadExampleModels,
  MemoryPeerDirectory,
  meshPeer,
  newIdentity,
  nodeLink,
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

describe('offload failover', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let broker: EmbeddedBroker;
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function providerNode(opts: { slots?: number; models?: () => ModelRuntime[] } = {}) {
    const identity = newIdentity();
    const link = nodeLink(broker.url, identity);
    await link.start();
    cleanup.push(() => link.stop());
    const provider = new OffloadProvider(
      { slots: opts.slots ?? 4 },
      { link, identity, models: opts.models ?? (() => models), logger: quietLogger },
    );
    await provider.start();
    cleanup.push(() => provider.stop());
    return { identity, link, provider };
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
    return { identity, client };
  }

  /** Counts requests addressed to `peerId`: a node that listens and never answers. */
  async function silentPeer(peerId: string): Promise<{ requests: () => number; client: MqttClient }> {
    const c = await connectTestClient(broker.url, { clientId: `silent-${peerId.slice(-6)}` });
    cleanup.push(() => c.endAsync(true));
    let n = 0;
    c.on('message', () => n++);
    await c.subscribeAsync(topics.offloadRequests(peerId), { qos: 1 });
    return { requests: () => n, client: c };
  }

  beforeEach(async () => {
    broker = await startTestBroker();
    cleanup.push(() => broker.stop());
  });

  it('times out on a silent peer and retries once on another', async () => {
    const silent = newIdentity();
    const listener = await silentPeer(silent.peerId);
    const good = await providerNode();
    const peers = new MemoryPeerDirectory();
    peers.set(meshPeer(silent, models, { loadPermille: 0 })); // looks best
    peers.set(meshPeer(good.identity, models, { loadPermille: 500 }));
    const c = await consumerNode(peers, { timeoutMs: 300 });
    const input = windows(2, 32, 3);
    const result = await c.client.run(model.sha256, input, 2, 32);
    expect(result.provider).toBe(good.identity.peerId);
    expect(bytesByName(result.outputs)).toEqual(bytesByName((await model.run(input, 2)) as never));
    expect(listener.requests()).toBe(1);
    expect(c.client.stats()).toMatchObject({ sent: 2, ok: 1, retried: 1, timeouts: 1, inFlight: 0 });
  });

  it('moves on from a provider that answers overloaded', async () => {
    const busy = await providerNode({ slots: 0 });
    const good = await providerNode();
    const peers = new MemoryPeerDirectory();
    peers.set(meshPeer(busy.identity, models, { loadPermille: 0, slots: 4 })); // a stale record
    peers.set(meshPeer(good.identity, models, { loadPermille: 900 }));
    const c = await consumerNode(peers);
    const result = await c.client.run(model.sha256, windows(1, 32, 4), 1, 32);
    expect(result.provider).toBe(good.identity.peerId);
    expect(busy.provider.stats().answered.overloaded).toBe(1);
    expect(c.client.stats()).toMatchObject({ failed: { overloaded: 1 }, retried: 1, ok: 1 });
  });

  it('keeps at most maxInFlightPerPeer requests at a peer and refuses the rest at once', async () => {
    const silent = newIdentity();
    const listener = await silentPeer(silent.peerId);
    const peers = new MemoryPeerDirectory();
    peers.set(meshPeer(silent, models, { slots: 8 }));
    const c = await consumerNode(peers, { maxInFlightPerPeer: 2, timeoutMs: 1000 });
    const runs = [1, 2, 3].map((i) => c.client.run(model.sha256, windows(1, 32, i), 1, 32));
    const settled = runs.map((r) =>
      r.then(
        () => 'ok',
        (err: unknown) => err,
      ),
    );
    const third = await withTimeout(settled[2]!, 'the third run to be refused');
    expect(third).toBeInstanceOf(OffloadUnavailableError);
    expect((third as OffloadUnavailableError).attempts).toEqual([]);
    expect(c.client.stats().inFlight).toBe(2);
    const firstTwo = await Promise.all(settled.slice(0, 2));
    for (const err of firstTwo) expect((err as OffloadUnavailableError).code).toBe('OFFLOAD_UNAVAILABLE');
    expect(listener.requests()).toBe(2);
    expect(c.client.stats()).toMatchObject({ sent: 2, timeouts: 2, unavailable: 3, inFlight: 0 });
  });

  it('retries the in-flight windows of a provider that dies elsewhere, losing none', async () => {
    const gate = deferred();
    let entered = 0;
    const allEntered = deferred();
    const gated = gatedModel(model, () => ++entered === 3 && allEntered.resolve(), gate.promise);
    cleanup.push(async () => gate.resolve());
    const doomed = await providerNode({ models: () => [gated] });
    const good = await providerNode({ slots: 6 }); // room for all six at once, as its record says
    const peers = new MemoryPeerDirectory();
    peers.set(meshPeer(doomed.identity, models, { loadPermille: 0, slots: 3 }));
    peers.set(meshPeer(good.identity, models, { loadPermille: 400, slots: 6 }));
    const c = await consumerNode(peers, { maxInFlightPerPeer: 6, timeoutMs: 10_000 });
    const inputs = [0, 1, 2, 3, 4, 5].map((i) => windows(1, 32, 10 + i));
    const runs = inputs.map((input) => c.client.run(model.sha256, input, 1, 32));
    await withTimeout(allEntered.promise, 'the doomed provider to start three windows');
    await doomed.link.stop(); // the node dies mid-stream…
    peers.remove(doomed.identity.peerId); // …and discovery drops it
    const results = await withTimeout(Promise.all(runs), 'every window to come back');
    gate.resolve();
    for (const [i, result] of results.entries()) {
      expect(result.provider).toBe(good.identity.peerId);
      expect(bytesByName(result.outputs)).toEqual(bytesByName((await model.run(inputs[i]!, 1)) as never));
    }
    expect(c.client.stats()).toMatchObject({ ok: 6, retried: 3, failed: { peer_removed: 3 }, inFlight: 0 });
  });
});

import { mkdir, mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bridge, type BridgeInit, createBridge } from '../../broker/bridge/bridge.js';
import { segmentFileName } from '../../broker/bridge/segment-files.js';
import type { EmbeddedBroker } from '../../broker/embedded-broker.js';
import { closedPort, connectTestClient, quietLogger, startTestBroker } from '../helpers/broker.js';
import { makeTestCa } from '../helpers/tls-ca.js';
import { recordEvents, withTimeout } from '../helpers/wait-for.js';

type Message = [topic: string, payload: Buffer, packet: { retain: boolean }];

/** Resolves once `condition()` holds, checking every 10 ms; rejects after the timeout naming `what`. */
function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const met = new Promise<void>((resolve) => {
    timer = setInterval(() => condition() && resolve(), 10);
  });
  return withTimeout(met, what, timeoutMs).finally(() => clearInterval(timer));
}

/**
 * Asserts at-least-once, in order: the counters run 1…n with no gap, and a value seen before
 * only appears as the start of a run sent again after a reconnect (a step back, then +1 steps).
 */
function expectInOrderAtLeastOnce(counters: number[], n: number): void {
  let max = 0;
  let restarts = 0;
  for (const [i, v] of counters.entries()) {
    if (v > max + 1) throw new Error(`gap: ${v} after ${max} (index ${i})`);
    if (i > 0 && v !== counters[i - 1]! + 1) restarts++;
    max = Math.max(max, v);
  }
  expect(max).toBe(n);
  expect(restarts).toBeLessThanOrEqual(2);
}

describe('bridge', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  async function broker(port = 0): Promise<EmbeddedBroker> {
    const b = await startTestBroker({ port, closeGraceMs: 100 });
    cleanups.push(() => b.stop());
    return b;
  }
  async function client(url: string): Promise<MqttClient> {
    const c = await connectTestClient(url);
    cleanups.push(() => c.endAsync(true));
    return c;
  }
  async function storeDir(): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'fm-bridge-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }
  async function bridge(
    init: Partial<BridgeInit> & Pick<BridgeInit, 'local' | 'upstream' | 'store'>,
  ): Promise<Bridge> {
    const b = createBridge(
      { topics: [{ filter: 'plant/#', qos: 1 }], reconnect: { minMs: 50, maxMs: 200 }, ...init },
      { logger: quietLogger },
    );
    await b.start();
    cleanups.push(() => b.stop());
    return b;
  }
  async function collect(url: string, filter = '#') {
    const c = await client(url);
    const seen = recordEvents<Message>(c, 'message');
    await c.subscribeAsync(filter, { qos: 1 });
    return { seen, counters: () => seen.seen.map(([, p]) => Number.parseInt(p.toString(), 10)) };
  }
  function publishStream(c: MqttClient, from: number, to: number, size = 0): Promise<unknown> {
    const pad = 'x'.repeat(size);
    const sent: Promise<unknown>[] = [];
    for (let i = from; i <= to; i++)
      sent.push(c.publishAsync(`plant/line1/seq`, `${i}${pad && ` ${pad}`}`, { qos: 1 }));
    return Promise.all(sent);
  }

  it('delivers every message of a stream, in order, across an upstream broker restart', async () => {
    const local = await broker();
    let upstream = await broker();
    const port = upstream.address().port;
    const dir = await storeDir();
    const b = await bridge({
      local: { url: local.url, clientId: 'bridge-1' },
      upstream: { url: upstream.url, clientId: 'bridge-1-up' },
      store: { dir, maxBytes: 4 * 1024 * 1024 },
      // Long enough that the test's new observer subscribes before the bridge is back.
      reconnect: { minMs: 600, maxMs: 1200 },
    });
    const first = await collect(upstream.url);
    await until(() => b.status().upstream.connected && b.status().local.connected, 'both sides connected');
    const publisher = await client(local.url);
    const n = 5000;
    const published = publishStream(publisher, 1, n);
    await first.seen.waitForCount(1000);
    await upstream.stop();
    upstream = await broker(port);
    const second = await collect(upstream.url);
    expect(b.counters().upstreamConnects).toBe(1); // the observer is in before the bridge
    await withTimeout(published, 'the stream to be published locally', 10_000);
    await until(() => second.counters().at(-1) === n, 'the last message upstream', 15_000);
    const counters = [...first.counters(), ...second.counters()];
    expectInOrderAtLeastOnce(counters, n);
    expect(b.counters()).toMatchObject({
      stored: n,
      droppedOldest: 0,
      droppedNewest: 0,
      upstreamConnects: 2,
    });
    await until(() => b.status().store.backlog === 0, 'the backlog to drain');
  });

  it('resumes from its store after a restart mid-stream: nothing lost', async () => {
    const local = await broker();
    const port = await closedPort();
    const dir = await storeDir();
    const init = {
      local: { url: local.url, clientId: 'bridge-2' },
      upstream: { url: `mqtt://127.0.0.1:${port}`, clientId: 'bridge-2-up' },
      store: { dir, maxBytes: 4 * 1024 * 1024 },
    };
    const first = await bridge(init);
    await until(() => first.status().local.connected, 'the local side connected');
    const publisher = await client(local.url);
    const n = 1000;
    const published = publishStream(publisher, 1, n);
    await until(() => first.counters().stored >= 200, 'some messages stored');
    await first.stop(); // mid-stream: the local broker keeps queueing for the bridge's session
    await withTimeout(published, 'the stream to be published locally');
    const upstream = await broker(port);
    const seen = await collect(upstream.url);
    const second = await bridge(init);
    await until(() => seen.counters().at(-1) === n, 'the last message upstream');
    expectInOrderAtLeastOnce(seen.counters(), n);
    expect(second.counters().droppedOldest + second.counters().droppedNewest).toBe(0);
  });

  it('acknowledges a message to the local broker only once it is stored', async () => {
    const local = await broker();
    const upstream = await broker();
    const dir = await storeDir();
    const seen = await collect(upstream.url);
    const b = await bridge({
      local: { url: local.url, clientId: 'bridge-3' },
      upstream: { url: upstream.url, clientId: 'bridge-3-up' },
      store: { dir, maxBytes: 64 * 1024 },
    });
    // A directory where the first segment file must go makes every store write fail.
    const blocker = path.join(dir, segmentFileName(1));
    await mkdir(blocker);
    await until(() => b.status().local.connected, 'the local side connected');
    const publisher = await client(local.url);
    await publisher.publishAsync('plant/a', 'precious', { qos: 1 });
    await until(() => b.counters().storeFailures >= 2, 'the write to fail, and fail again on redelivery');
    expect(seen.seen.seen).toHaveLength(0);
    await rmdir(blocker); // the disk recovers; the local broker still holds the unacknowledged message
    const [[topic, payload]] = (await seen.seen.waitForCount(1)) as [Message];
    expect([topic, payload.toString()]).toEqual(['plant/a', 'precious']);
  });

  for (const overflow of ['drop-oldest', 'drop-newest'] as const) {
    it(`keeps to its disk budget while upstream is away: ${overflow}`, async () => {
      const local = await broker();
      const port = await closedPort();
      const dir = await storeDir();
      const init = {
        local: { url: local.url, clientId: `bridge-${overflow}` },
        upstream: { url: `mqtt://127.0.0.1:${port}`, clientId: 'up' },
        store: { dir, maxBytes: 16 * 1024, overflow },
      };
      const first = await bridge(init);
      await until(() => first.status().local.connected, 'the local side connected');
      const publisher = await client(local.url);
      const n = 600; // ~100 bytes each: about 4 times the budget
      await publishStream(publisher, 1, n, 80);
      // Each message is, once settled, either waiting in the store or counted as dropped.
      const accounted = () => {
        const c = first.counters();
        return first.status().store.backlog + c.droppedOldest + c.droppedNewest;
      };
      await until(() => accounted() === n, 'every message stored or dropped');
      const { droppedOldest, droppedNewest, stored } = first.counters();
      const { backlog, bytes } = first.status().store;
      expect(bytes).toBeLessThanOrEqual(16 * 1024);
      if (overflow === 'drop-oldest') {
        expect(droppedNewest).toBe(0);
        expect(droppedOldest).toBe(n - backlog);
      } else {
        expect(droppedOldest).toBe(0);
        expect(droppedNewest).toBe(n - stored);
        expect(backlog).toBe(stored);
      }
      await first.stop();
      const upstream = await broker(port);
      const seen = await collect(upstream.url);
      await bridge(init);
      await seen.seen.waitForCount(backlog);
      const expected = Array.from(
        { length: backlog },
        (_, i) => (overflow === 'drop-oldest' ? n - backlog : 0) + i + 1,
      );
      expect(seen.counters().join(',')).toBe(expected.join(','));
    });
  }

  it('reaches an mqtts:// upstream that its CA file vouches for, and no other', async () => {
    const local = await broker();
    const upstream = await broker();
    const ca = await makeTestCa(path.join(await storeDir(), 'ca'));
    // A TLS front for the plain upstream broker: the bridge's side of it is real TLS.
    const sockets = new Set<net.Socket>();
    const front = tls.createServer(
      { cert: await readFile(ca.certFile), key: await readFile(ca.keyFile) },
      (secure) => {
        const plain = net.connect({ host: '127.0.0.1', port: upstream.address().port });
        for (const s of [secure, plain]) {
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => sockets.delete(s));
        }
        secure.pipe(plain).pipe(secure);
      },
    );
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => front.close(resolve));
    });
    const url = `mqtts://127.0.0.1:${(front.address() as net.AddressInfo).port}`;
    const seen = await collect(upstream.url);
    const trusted = await bridge({
      local: { url: local.url, clientId: 'bridge-tls' },
      upstream: { url, clientId: 'bridge-tls-up', caFile: ca.caFile },
      store: { dir: await storeDir(), maxBytes: 64 * 1024 },
    });
    const stranger = await bridge({
      local: { url: local.url, clientId: 'bridge-tls-2' },
      upstream: { url, clientId: 'bridge-tls-2-up', caFile: ca.otherCaFile },
      store: { dir: await storeDir(), maxBytes: 64 * 1024 },
    });
    await until(() => trusted.status().upstream.connected && trusted.status().local.connected, 'TLS link up');
    const publisher = await client(local.url);
    await publisher.publishAsync('plant/secure', 'over tls', { qos: 1 });
    const [[topic]] = (await seen.seen.waitForCount(1)) as [Message];
    expect(topic).toBe('plant/secure');
    await until(() => stranger.status().upstream.lastError !== null, 'the untrusted handshake to fail');
    expect(stranger.status().upstream).toMatchObject({
      connected: false,
      lastError: expect.stringMatching(/certificate/),
    });
  });

  it('forwards only what its rules select, renamed, with the retained flag kept', async () => {
    const local = await broker();
    const upstream = await broker();
    const setup = await client(local.url);
    await setup.publishAsync('plant/l1/config', 'v7', { qos: 1, retain: true });
    const seen = await collect(upstream.url);
    const b = await bridge({
      local: { url: local.url, clientId: 'bridge-5' },
      upstream: { url: upstream.url, clientId: 'bridge-5-up' },
      store: { dir: await storeDir(), maxBytes: 64 * 1024 },
      topics: [
        { filter: 'plant/+/temp', qos: 1, stripPrefix: 'plant/', remotePrefix: 'site-a/' },
        { filter: 'plant/+/config', qos: 1, remotePrefix: 'site-a/' },
        { filter: 'alarms/#', qos: 0 },
      ],
    });
    await until(() => b.status().local.connected, 'the local side connected');
    await seen.seen.waitForCount(1);
    for (const t of ['plant/l1/humidity', 'plant/l1/temp', 'other/x', 'alarms/fire/l2']) {
      await setup.publishAsync(t, t, { qos: 1 });
    }
    await seen.seen.waitForCount(3);
    expect(seen.seen.seen.map(([t, p, { retain }]) => [t, p.toString(), retain])).toEqual([
      // Sent because the bridge subscribed: retained [MQTT-3.3.1-8]; this observer sees it live [MQTT-3.3.1-9].
      ['site-a/plant/l1/config', 'v7', false],
      ['site-a/l1/temp', 'plant/l1/temp', false],
      ['alarms/fire/l2', 'alarms/fire/l2', false],
    ]);
    const late = await collect(upstream.url, 'site-a/#');
    const [[topic, , packet]] = (await late.seen.waitForCount(1)) as [Message];
    expect([topic, packet.retain]).toEqual(['site-a/plant/l1/config', true]);
    expect(b.counters()).toMatchObject({ received: 3, stored: 3, unrouted: 0 });
  });
});

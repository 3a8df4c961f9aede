import type net from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createMqttLink, type MqttLink, type MqttLinkInit } from '../../../agent/mqtt/link.js';
import { dialBroker, type MqttTransport } from '../../../agent/mqtt/transport.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { hasCode } from '../../../protocol/errors.js';
import { closedPort, connectTestClient, quietLogger, startTestBroker } from '../../helpers/broker.js';
import { hasNoDelay } from '../../helpers/socket.js';
import { deferred, recordEvents, waitForEvent, withTimeout } from '../../helpers/wait-for.js';

describe('mqtt link', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  let ids = 0;

  async function broker(port = 0): Promise<EmbeddedBroker> {
    const b = await startTestBroker({ port });
    cleanup.push(() => b.stop());
    return b;
  }

  async function observer(url: string): Promise<MqttClient> {
    const c = await connectTestClient(url, { clientId: `observer-${++ids}` });
    cleanup.push(() => c.endAsync(true));
    return c;
  }

  /** A link with test-friendly timings whose sockets the test can reach. */
  function link(
    url: string,
    overrides: Partial<MqttLinkInit> = {},
  ): { link: MqttLink; sockets: net.Socket[] } {
    const sockets: net.Socket[] = [];
    const transport: MqttTransport = (target) => {
      const socket = dialBroker(target);
      sockets.push(socket);
      return socket;
    };
    const l = createMqttLink(
      {
        url,
        clientId: `agent-${++ids}`,
        keepaliveS: 30,
        protocolVersion: 4,
        reconnect: { minMs: 20, maxMs: 200 },
        connectTimeoutMs: 3000,
        ...overrides,
      },
      { logger: quietLogger, transport },
    );
    cleanup.push(() => l.stop());
    return { link: l, sockets };
  }

  it('connects, with TCP_NODELAY on its socket', async () => {
    const b = await broker();
    const { link: l, sockets } = link(b.url);
    const connected = waitForEvent<[{ sessionPresent: boolean }]>(l, 'connected');
    await l.start();
    expect(l.connected).toBe(true);
    expect(l.url).toBe(b.url);
    expect((await connected)[0]).toEqual({ sessionPresent: false });
    expect(sockets).toHaveLength(1);
    expect(hasNoDelay(sockets[0]!)).toBe(true);
    expect(b.counters().clientsConnected).toBe(1);
  });

  it('shares one start among concurrent callers and contains listeners that throw', async () => {
    const b = await broker();
    const { link: l } = link(b.url);
    let onceCalls = 0;
    l.on('connected', () => {
      throw new Error('a careless listener');
    });
    l.once('connected', () => {
      onceCalls++;
    });
    const [first, second] = [l.start(), l.start()];
    expect(second).toBe(first);
    await first;
    expect(l.connected).toBe(true);
    expect(onceCalls).toBe(1);
    await l.start(); // already running: resolves at once
  });

  it('resolves a QoS 1 publish on PUBACK and delivers QoS 0 and the fast path', async () => {
    const b = await broker();
    const obs = await observer(b.url);
    await obs.subscribeAsync('results/#', { qos: 1 });
    const seen = recordEvents<[string, Buffer]>(obs, 'message');
    const { link: l } = link(b.url);
    await l.start();

    await l.publish('results/a', new Uint8Array([1, 2, 3]), { qos: 1 });
    await l.publish('results/b', 'zero', { qos: 0 });
    l.publishFast('results/c', 'fast');
    await seen.waitForCount(3);
    expect(seen.seen.map(([t, p]) => [t, [...p]])).toEqual([
      ['results/a', [1, 2, 3]],
      ['results/b', [...Buffer.from('zero')]],
      ['results/c', [...Buffer.from('fast')]],
    ]);
    expect(l.counters()).toMatchObject({ publishes: 3, pendingQos1: 0, droppedQos0Offline: 0 });
  });

  it('dispatches received messages to the handlers whose filter matches', async () => {
    const b = await broker();
    const { link: l } = link(b.url);
    await l.start();
    const got: string[] = [];
    await l.subscribe('sensors/+/temp', 1, (topic, payload) =>
      got.push(`temp ${topic} ${Buffer.from(payload)}`),
    );
    await l.subscribe('sensors/#', 0, (topic) => got.push(`all ${topic}`));
    await l.subscribe('boom', 0, () => {
      throw new Error('a broken handler');
    });

    const pub = await observer(b.url);
    const humSeen = deferred();
    await l.subscribe('sensors/+/hum', 0, () => humSeen.resolve());
    await pub.publishAsync('boom', 'x', { qos: 1 });
    await pub.publishAsync('sensors/s1/temp', '21', { qos: 1 });
    await pub.publishAsync('sensors/s1/hum', '40', { qos: 1 });
    // Messages to one subscriber arrive in order: once hum is here, so are boom and temp.
    await withTimeout(humSeen.promise, 'sensors/s1/hum');
    await l.unsubscribe('sensors/#');
    await l.unsubscribe('sensors/+/hum');
    await pub.publishAsync('sensors/s2/hum', 'gone', { qos: 1 });
    // A last message through a live filter: the ones before it have been dispatched by then.
    const fence = deferred();
    await l.subscribe('fence', 1, () => fence.resolve());
    await pub.publishAsync('fence', '', { qos: 1 });
    await withTimeout(fence.promise, 'the fence message');

    expect(got).toContain('temp sensors/s1/temp 21');
    expect(got).toContain('all sensors/s1/temp');
    expect(got).toContain('all sensors/s1/hum');
    expect(got.some((g) => g.includes('s2'))).toBe(false);
    // The throwing handler was contained: the link is up and counted what nobody wanted.
    expect(l.connected).toBe(true);
    expect(l.counters().unmatched).toBe(0);
  });

  it('refuses an invalid filter with TOPIC_FILTER_INVALID', async () => {
    const b = await broker();
    const { link: l } = link(b.url);
    await l.start();
    const err: unknown = await l.subscribe('a/#/b', 0, () => undefined).catch((e: unknown) => e);
    expect(hasCode(err, 'TOPIC_FILTER_INVALID')).toBe(true);
  });

  it('survives a broker restart on the same port: backs off, re-subscribes, receives again', async () => {
    const first = await broker();
    const { port } = first.address();
    const { link: l } = link(first.url);
    await l.start();
    const received: string[] = [];
    const arrived = deferred();
    await l.subscribe('sensors/#', 1, (topic, payload) => {
      received.push(`${topic}=${Buffer.from(payload)}`);
      arrived.resolve();
    });

    const reconnecting = recordEvents<[{ attempt: number; delayMs: number }]>(l, 'reconnecting');
    const disconnected = waitForEvent<[{ reason: string }]>(l, 'disconnected');
    await first.stop();
    const [{ reason }] = await disconnected;
    expect(reason.length).toBeGreaterThan(0);
    expect(l.connected).toBe(false);
    // Two scheduled attempts: the second follows a refused dial, so the loop is backing off.
    await reconnecting.waitForCount(2);

    const back = waitForEvent<[{ sessionPresent: boolean }]>(l, 'connected');
    const second = await broker(port); // a fresh broker: no persistence, so no session
    expect((await back)[0]).toEqual({ sessionPresent: false });

    const pub = await observer(second.url);
    await pub.publishAsync('sensors/t1', 'after-restart', { qos: 1 });
    await withTimeout(arrived.promise, 'the message published after the restart');
    expect(received).toEqual(['sensors/t1=after-restart']);

    const attempts = reconnecting.seen.map(([e]) => e);
    expect(attempts[0]?.attempt).toBe(1);
    expect(attempts[1]?.attempt).toBe(2);
    for (const { delayMs } of attempts) {
      expect(delayMs).toBeGreaterThanOrEqual(20);
      expect(delayMs).toBeLessThanOrEqual(200);
    }
    expect(l.counters().reconnects).toBe(1);
  });

  it('queues QoS 1 while offline and delivers it after reconnecting; drops and counts QoS 0', async () => {
    const first = await broker();
    const { port } = first.address();
    const { link: l } = link(first.url);
    await l.start();
    const disconnected = waitForEvent(l, 'disconnected');
    await first.stop();
    await disconnected;

    l.publishFast('results/x', 'lost');
    await l.publish('results/y', 'lost too', { qos: 0 });
    // Retained, so an observer that subscribes later still finds it on the new broker.
    const queued = l.publish('state/last', 'kept', { qos: 1, retain: true });
    expect(l.counters()).toMatchObject({ droppedQos0Offline: 2, pendingQos1: 1 });

    const back = waitForEvent(l, 'connected');
    const second = await broker(port);
    await back;
    await withTimeout(queued, 'the queued QoS 1 publish to be acknowledged');
    const obs = await observer(second.url);
    const retained = waitForEvent<[string, Buffer]>(obs, 'message');
    await obs.subscribeAsync('state/last', { qos: 1 });
    const [topic, payload] = await retained;
    expect([topic, payload.toString()]).toEqual(['state/last', 'kept']);
    expect(l.counters().pendingQos1).toBe(0);
  });

  it('has the broker publish its will when its socket dies without DISCONNECT', async () => {
    const b = await broker();
    const obs = await observer(b.url);
    await obs.subscribeAsync('nodes/+/status', { qos: 1 });
    const { link: l, sockets } = link(b.url, {
      will: { topic: 'nodes/n1/status', payload: 'offline', qos: 1, retain: false },
    });
    await l.start();

    const will = waitForEvent<[string, Buffer]>(obs, 'message');
    const disconnected = waitForEvent(l, 'disconnected');
    const reconnected = waitForEvent(l, 'connected');
    sockets[0]!.destroy();
    const [topic, payload] = await will;
    expect([topic, payload.toString()]).toEqual(['nodes/n1/status', 'offline']);
    await disconnected;
    await reconnected;
  });

  it('publishes its online message on every connect, and no will on a clean stop', async () => {
    const b = await broker();
    const obs = await observer(b.url);
    await obs.subscribeAsync('nodes/n2/status', { qos: 1 });
    const seen = recordEvents<[string, Buffer]>(obs, 'message');
    const { link: l, sockets } = link(b.url, {
      will: { topic: 'nodes/n2/status', payload: 'offline', qos: 1, retain: false },
      onlineMessage: { topic: 'nodes/n2/status', payload: 'online', qos: 1, retain: true },
    });
    await l.start();
    await seen.waitForCount(1);
    const reconnected = waitForEvent(l, 'connected');
    sockets[0]!.destroy();
    await reconnected;
    await seen.waitForCount(3); // the will, then online again
    await l.stop();
    // Fence: a message sent after the stop arrives after anything the stop could have caused.
    const fence = waitForEvent<[string, Buffer]>(obs, 'message', {
      filter: (_t, p) => p.toString() === 'fence',
    });
    await obs.publishAsync('nodes/n2/status', 'fence', { qos: 1 });
    await fence;
    expect(seen.seen.map(([, p]) => p.toString())).toEqual(['online', 'offline', 'online', 'fence']);
  });

  it('rejects start() with MQTT_CONNECT_FAILED naming the URL when nothing listens', async () => {
    const port = await closedPort();
    const { link: l } = link(`mqtt://127.0.0.1:${port}`, { connectTimeoutMs: 300 });
    const err: unknown = await l.start().catch((e: unknown) => e);
    expect(hasCode(err, 'MQTT_CONNECT_FAILED')).toBe(true);
    const message = (err as Error).message;
    expect(message).toContain(`mqtt://127.0.0.1:${port}`);
    expect(message).toContain('ECONNREFUSED');
    expect(message).toContain('is the broker running');
    expect(message).toContain('FIELDMESH_MQTT_URL');
  });

  it('rejects start() at once with the CONNACK meaning when the broker refuses (MQTT 5 against aedes)', async () => {
    const b = await broker();
    const { link: l } = link(b.url, { protocolVersion: 5, connectTimeoutMs: 20_000 });
    const err: unknown = await withTimeout(
      l.start().catch((e: unknown) => e),
      'the refusal (well before connectTimeoutMs)',
    );
    expect(hasCode(err, 'MQTT_CONNECT_FAILED')).toBe(true);
    expect((err as { returnCode?: number }).returnCode).toBe(1);
    expect((err as Error).message).toMatch(/unacceptable protocol version.*protocolVersion to 4/);
  });

  it('stops promptly while the broker is gone, failing what is still queued', async () => {
    const b = await broker();
    const { link: l } = link(b.url);
    await l.start();
    const disconnected = waitForEvent(l, 'disconnected');
    await b.stop();
    await disconnected;
    const queued = l.publish('results/z', 'never', { qos: 1 }).catch((e: unknown) => e);
    await withTimeout(l.stop(), 'stop while reconnecting');
    expect(hasCode(await queued, 'MQTT_LINK_STOPPED')).toBe(true);
    const after: unknown = await l.publish('x', 'y', { qos: 1 }).catch((e: unknown) => e);
    expect(hasCode(after, 'MQTT_LINK_STOPPED')).toBe(true);
    l.publishFast('x', 'y'); // never throws
  });

  it('refuses settings it cannot work with, before connecting', () => {
    const base = {
      clientId: 'c',
      keepaliveS: 30,
      protocolVersion: 4 as const,
      reconnect: { minMs: 20, maxMs: 200 },
      connectTimeoutMs: 1000,
    };
    const make = (over: Partial<MqttLinkInit>) => () =>
      createMqttLink({ url: 'mqtt://127.0.0.1:1883', ...base, ...over }, { logger: quietLogger });
    expect(make({ url: 'ws://127.0.0.1:9001' })).toThrow(/ws:\/\/.*mqtt:\/\//);
    expect(make({ url: 'not a url' })).toThrow(/MQTT|URL|url/);
    expect(make({ clientId: '' })).toThrow(/clientId is empty/);
    expect(make({ reconnect: { minMs: 500, maxMs: 100 } })).toThrow(/reconnect maxMs/);
    // A config from JSON can carry anything: 3 (MQTT 3.1) is not spoken.
    expect(make({ protocolVersion: 3 as unknown as 4 })).toThrow(
      /protocolVersion is 3; use 4 \(MQTT 3\.1\.1\), 5 or 'auto'/,
    );
    expect(make({ url: 'mqtt://user:secret@127.0.0.1' })().url).toBe('mqtt://127.0.0.1:1883');
  });
});

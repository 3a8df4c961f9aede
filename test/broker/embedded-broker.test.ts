import net from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerAuthInit } from '../../broker/auth.js';
import {
  createEmbeddedBroker,
  type EmbeddedBroker,
  type EmbeddedBrokerInit,
} from '../../broker/embedded-broker.js';
import { hasCode } from '../../protocol/errors.js';
import { connectTestClient, quietLogger, startTestBroker } from '../helpers/broker.js';
import { waitForEvent, withTimeout } from '../helpers/wait-for.js';

const OPEN: BrokerAuthInit = { allowAnonymous: true, trustedNodes: 'any' };

/** An MQTT 3.1.1 CONNECT built by hand: mqtt.js refuses to encode an empty id with clean session off. */
function connectPacket(clientId: string, clean: boolean): Buffer {
  const id = Buffer.from(clientId, 'utf8');
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, clean ? 0x02 : 0x00, 0x00, 0x3c]);
  const payload = Buffer.concat([Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  const remaining = variable.length + payload.length; // < 128: one length byte
  return Buffer.concat([Buffer.from([0x10, remaining]), variable, payload]);
}

/** Sends `packet` on a raw socket; resolves with every byte the broker sent until it closed the connection. */
async function rawExchange(port: number, packet: Buffer): Promise<Buffer> {
  const socket = net.connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  await waitForEvent(socket, 'connect');
  const closed = waitForEvent(socket, 'close');
  socket.write(packet);
  await closed;
  return Buffer.concat(chunks);
}

describe('embedded broker', () => {
  const brokers: EmbeddedBroker[] = [];
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await Promise.all(brokers.splice(0).map((b) => b.stop()));
  });

  async function broker(init: Parameters<typeof startTestBroker>[0] = {}): Promise<EmbeddedBroker> {
    const b = await startTestBroker(init);
    brokers.push(b);
    return b;
  }

  async function client(
    url: string,
    options: Parameters<typeof connectTestClient>[1] = {},
  ): Promise<MqttClient> {
    const c = await connectTestClient(url, options);
    clients.push(c);
    return c;
  }

  it('listens on an ephemeral loopback port and serves MQTT clients', async () => {
    const b = await broker();
    const { host, port } = b.address();
    expect(host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    expect(b.url).toBe(`mqtt://127.0.0.1:${port}`);

    const sub = await client(b.url, { clientId: 'observer' });
    await sub.subscribeAsync('sensors/#', { qos: 1 });
    const received = waitForEvent<[string, Buffer]>(sub, 'message');
    const pub = await client(b.url, { clientId: 'sensor-1' });
    await pub.publishAsync('sensors/t1', '21.5', { qos: 1 });
    const [topic, payload] = await received;
    expect(topic).toBe('sensors/t1');
    expect(payload.toString()).toBe('21.5');
    expect(b.counters()).toMatchObject({ clientsConnected: 2, messagesPublished: 1 });
  });

  it('stops promptly while clients are connected, without waiting for its grace', async () => {
    const b = await broker({ closeGraceMs: 60_000 });
    const c = await client(b.url, { clientId: 'lingering' });
    const closed = waitForEvent(c, 'close');
    await withTimeout(b.stop(), 'stop with a connected client');
    await closed;
    expect(b.counters().clientsConnected).toBe(0);
    // Nothing listens any more.
    const probe = net.connect({ host: '127.0.0.1', port: b.address().port });
    const [err] = await waitForEvent<[NodeJS.ErrnoException]>(probe, 'error');
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('ends a socket that never sent CONNECT once the grace is over', async () => {
    const b = await broker({ closeGraceMs: 100 });
    const silent = net.connect({ host: '127.0.0.1', port: b.address().port });
    silent.on('error', () => undefined);
    await waitForEvent(silent, 'connect');
    const closed = waitForEvent(silent, 'close');
    await withTimeout(b.stop(), 'stop with a silent socket');
    await closed;
  });

  it('fails with BROKER_LISTEN_FAILED naming host:port when the port is taken', async () => {
    const first = await broker();
    const { port } = first.address();
    const second = createEmbeddedBroker({ host: '127.0.0.1', port, auth: OPEN }, { logger: quietLogger });
    const err: unknown = await second.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(hasCode(err, 'BROKER_LISTEN_FAILED')).toBe(true);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).toContain('EADDRINUSE');
    expect((err as Error).message).toContain('broker.port');
    // The failed broker holds nothing open: stopping it is a no-op.
    await withTimeout(second.stop(), 'stop of a broker that never started');
  });

  it('refuses an empty client id with clean session off: CONNACK 0x02, then closes [MQTT-3.1.3-8]', async () => {
    const b = await broker();
    const reply = await withTimeout(
      rawExchange(b.address().port, connectPacket('', false)),
      'CONNACK and close',
    );
    // CONNACK: type 2, remaining length 2, session present 0, return code 2 (identifier rejected).
    expect([...reply]).toEqual([0x20, 0x02, 0x00, 0x02]);
    expect(b.counters()).toMatchObject({ clientsConnected: 0, connectsRefused: 1 });
  });

  it('accepts an empty client id with clean session on', async () => {
    const b = await broker();
    const reply = await withTimeout(
      (async () => {
        const socket = net.connect({ host: '127.0.0.1', port: b.address().port });
        socket.on('error', () => undefined);
        await waitForEvent(socket, 'connect');
        const data = waitForEvent<[Buffer]>(socket, 'data');
        socket.write(connectPacket('', true));
        const [chunk] = await data;
        socket.destroy();
        return chunk;
      })(),
      'CONNACK',
    );
    expect([...reply]).toEqual([0x20, 0x02, 0x00, 0x00]);
    // And through mqtt.js, which a real sensor would use.
    const c = await client(b.url, { clientId: '', clean: true });
    expect(c.connected).toBe(true);
  });

  it('acknowledges a PUBLISH to $SYS/, drops it, counts it and keeps the client connected', async () => {
    const b = await broker();
    const observer = await client(b.url, { clientId: 'observer' });
    await observer.subscribeAsync(['$SYS/#', 'fence'], { qos: 0 });
    const topics: string[] = [];
    observer.on('message', (topic) => topics.push(topic));

    const intruder = await client(b.url, { clientId: 'intruder' });
    // MQTT 3.1.1 has no negative PUBACK: a refused PUBLISH is acknowledged and not delivered
    // [MQTT-3.3.5-2]; the intruder keeps its connection.
    await withTimeout(intruder.publishAsync('$SYS/x', 'spoofed', { qos: 1 }), 'PUBACK of a denied publish');
    expect(intruder.connected).toBe(true);
    expect(b.counters().publishesDenied).toBe(1);

    // The refusal happened before the fence was published, and one subscriber's messages
    // arrive in order: once the fence is here, a leaked $SYS/x would have been too.
    const fence = waitForEvent(observer, 'message', { filter: (topic) => topic === 'fence' });
    await intruder.publishAsync('fence', '', { qos: 0 });
    await fence;
    expect(topics).not.toContain('$SYS/x');
    expect(topics).toContain('fence');
  });

  it('refuses clients beyond maxClients with CONNACK 3 (server unavailable)', async () => {
    const b = await broker({ limits: { maxClients: 1 } });
    await client(b.url, { clientId: 'first' });
    const err: unknown = await connectTestClient(b.url, { clientId: 'second' }).then(
      (c) => {
        clients.push(c);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect((err as { code?: unknown }).code).toBe(3);
    // A client that reconnects under its own id takes its session over; it is not refused.
    const again = await client(b.url, { clientId: 'first' });
    expect(again.connected).toBe(true);
  });

  it('can be restarted on the same port after a stop', async () => {
    const b = await broker();
    const { port } = b.address();
    await b.stop();
    const again = await broker({ port });
    expect(again.address().port).toBe(port);
    const c = await client(again.url, { clientId: 'back' });
    expect(c.connected).toBe(true);
  });

  it('refuses settings it cannot use, before starting', () => {
    const make = (init: Partial<EmbeddedBrokerInit>) => () =>
      createEmbeddedBroker({ host: '127.0.0.1', port: 0, auth: OPEN, ...init }, { logger: quietLogger });
    expect(make({ port: 70_000 })).toThrow(/port is 70000/);
    expect(make({ limits: { maxClients: 0 } })).toThrow(/limits.maxClients is 0/);
    expect(make({ limits: { maxPacketBytes: -1 } })).toThrow(/limits.maxPacketBytes is -1/);
    expect(make({ listeners: [{ kind: 'tls', host: '127.0.0.1', port: 0 }] })).toThrow(
      /listeners\[0\] is tls but has no certificate/,
    );
  });
});

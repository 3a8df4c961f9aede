import net from 'node:net';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { EmbeddedBroker, EmbeddedBrokerInit } from '../../broker/embedded-broker.js';
import { connectTestClient, startTestBroker } from '../helpers/broker.js';
import { waitForEvent, withTimeout } from '../helpers/wait-for.js';

/**
 * Each case: something a broken or hostile client does, then proof that the broker is still up
 * and still serving a well-behaved client.
 */

const brokers: EmbeddedBroker[] = [];
const clients: MqttClient[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(init: Partial<EmbeddedBrokerInit> = {}): Promise<EmbeddedBroker> {
  const b = await startTestBroker(init);
  brokers.push(b);
  return b;
}

const encode = (packet: object): Buffer => mqttPacket.generate(packet as mqttPacket.Packet);
const CONNECT = encode({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clientId: 'raw',
  clean: true,
  keepalive: 60,
});

/** A raw TCP connection; resolves once connected. */
async function raw(b: EmbeddedBroker, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port: b.address().port, localAddress });
  socket.on('error', () => undefined);
  sockets.push(socket);
  await waitForEvent(socket, 'connect');
  return socket;
}

/** Writes `bytes` and resolves when the broker closes the connection. */
async function closedAfter(socket: net.Socket, bytes: Buffer, what: string, ms?: number): Promise<void> {
  const closed = waitForEvent(socket, 'close');
  socket.resume();
  socket.write(bytes);
  await withTimeout(closed, what, ms);
}

/** A fresh client can still subscribe, publish and receive. */
async function stillServes(b: EmbeddedBroker, localAddress?: string): Promise<void> {
  const { port } = b.address();
  const c = await connectTestClient(`mqtt://127.0.0.1:${port}`, {
    clientId: `healthy-${clients.length}`,
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  clients.push(c);
  await c.subscribeAsync('health', { qos: 1 });
  const got = waitForEvent(c, 'message', { filter: (t) => t === 'health' });
  await c.publishAsync('health', 'ok', { qos: 1 });
  await withTimeout(got, 'a healthy client to get its own message back');
}

describe('broker under bad input', () => {
  it('closes connections that send malformed packets and counts them', async () => {
    const b = await broker();
    // Not MQTT at all.
    await closedAfter(
      await raw(b),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      'an HTTP request to be refused',
    );
    // A Remaining Length of five bytes (the maximum is four, §2.2.3).
    await closedAfter(await raw(b), Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), 'an overlong length');
    // A valid CONNECT, then a SUBSCRIBE with the reserved flags wrong (§3.8.1: must be 0010).
    const s = await raw(b);
    const sub = encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] });
    sub[0] = 0x80;
    await closedAfter(s, Buffer.concat([CONNECT, sub]), 'a SUBSCRIBE with bad flags');
    // A PUBLISH before any CONNECT.
    await closedAfter(
      await raw(b),
      encode({ cmd: 'publish', topic: 'x', payload: 'y', qos: 0 }),
      'a PUBLISH first',
    );
    expect(b.counters().protocolErrors).toBeGreaterThanOrEqual(2);
    await stillServes(b);
  });

  it('closes a connection whose packet exceeds maxPacketBytes, before the body arrives', async () => {
    const b = await broker({ limits: { maxPacketBytes: 1024 } });
    const s = await raw(b);
    s.write(CONNECT);
    // Announce a 10 MB PUBLISH and send only its first bytes: the broker must not wait for the rest.
    const header = Buffer.from([0x30, 0x80, 0xad, 0xe2, 0x04]); // 10,000,000 in four length bytes
    await closedAfter(s, Buffer.concat([header, Buffer.alloc(100)]), 'the oversized PUBLISH to be refused');
    expect(b.counters().packetsTooLarge).toBe(1);
    // At the limit is fine.
    const c = await connectTestClient(b.url, { clientId: 'fits' });
    clients.push(c);
    await c.publishAsync('big', Buffer.alloc(1000), { qos: 1 });
    await stillServes(b);
  });

  it('closes connections from an address that opens them too fast, and serves other addresses', async () => {
    const b = await broker({ limits: { connectionsPerSecond: 2, connectionBurst: 5 } });
    const results = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const s = await raw(b);
        s.write(CONNECT);
        return new Promise<'closed' | 'served'>((resolve) => {
          s.once('data', () => resolve('served'));
          s.once('close', () => resolve('closed'));
        });
      }),
    );
    expect(results.filter((r) => r === 'served').length).toBeLessThanOrEqual(6);
    expect(b.counters().connectionsRateLimited).toBeGreaterThanOrEqual(24);
    // The flood came from 127.0.0.1; a client on another loopback address is not held back.
    await stillServes(b, '127.0.0.2');
  });

  it('drops a connection that never finishes its CONNECT', async () => {
    const b = await broker({ limits: { connectTimeoutMs: 300 } });
    const s = await raw(b);
    const started = Date.now();
    await closedAfter(s, CONNECT.subarray(0, 6), 'a half-sent CONNECT to time out', 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await stillServes(b);
  });

  it('keeps delivering to others while a subscriber stops reading, then cuts that subscriber off', async () => {
    // The default limits: QoS 0 dropped past 256 KiB of backlog, cut off past 1 MiB.
    const b = await broker();
    const slow = await raw(b);
    slow.write(
      Buffer.concat([
        encode({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clientId: 'slow',
          clean: true,
          keepalive: 0,
        }),
        encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 1 }] }),
      ]),
    );
    await waitForEvent(slow, 'data'); // CONNACK (and maybe SUBACK): it is in
    slow.pause(); // ...and never reads again
    const healthy = await connectTestClient(b.url, { clientId: 'healthy' });
    clients.push(healthy);
    await healthy.subscribeAsync('flood/#', { qos: 0 });
    let received = 0;
    healthy.on('message', () => received++);
    const publisher = await connectTestClient(b.url, { clientId: 'publisher' });
    clients.push(publisher);

    // Rounds of 200 KB until the stalled subscriber is cut off: the kernel first buffers a few MB
    // for it (how much varies), then the broker's own backlog grows past the limits.
    const payload = Buffer.alloc(8000, 7);
    const perRound = 25;
    let sent = 0;
    for (let r = 0; r < 300 && b.counters().slowConsumersDisconnected === 0; r++) {
      for (let i = 0; i < perRound - 1; i++)
        publisher.publish('flood/x', payload, { qos: i % 2 === 0 ? 0 : 1 });
      await publisher.publishAsync('flood/x', payload, { qos: 1 });
      sent += perRound;
      // Healthy keeps up round by round; the slow one falls further behind.
      await withTimeout(
        (async () => {
          while (received < sent) await new Promise((res) => setImmediate(res));
        })(),
        `round ${r} to reach the healthy subscriber (${received} of ${sent} so far)`,
      );
    }
    expect(received).toBe(sent);
    const counters = b.counters();
    expect(counters.droppedSlowConsumer).toBeGreaterThan(0);
    expect(counters.slowConsumersDisconnected).toBe(1);
    await stillServes(b);
  }, 60_000);
});

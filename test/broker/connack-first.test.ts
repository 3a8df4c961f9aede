import net from 'node:net';
import { Aedes } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnackFirstCounts, sendConnackFirst } from '../../broker/connack-first.js';
import { connectTestClient, quietLogger } from '../helpers/broker.js';
import { connectRecordingClient } from '../helpers/mqtt-session.js';
import { deferred, waitForEvent, withTimeout } from '../helpers/wait-for.js';

/**
 * A persistent session resumed while a message on its topics is published: the broker must
 * still answer CONNECT with CONNACK first [MQTT-3.2.0-1]. The window is made certain by holding
 * the session's will update (the step aedes takes between restoring the subscriptions and
 * writing the CONNACK) until the message has been published, as a slow SD card or a remote
 * Redis would.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface GuardedBroker {
  url: string;
  counts: ConnackFirstCounts;
  /** Resolves when the named client's CONNECT reaches the will step; it waits there until `release`. */
  holdWillStep(clientId: string): { reached: Promise<void>; release(): void };
}

/** The one persistence step the tests slow down. */
interface WillStore {
  delWill(client: { id: string }): Promise<unknown>;
}

async function guardedBroker(): Promise<GuardedBroker> {
  const aedes = new Aedes();
  const counts: ConnackFirstCounts = { deliveriesBeforeConnack: 0, deliveriesDroppedBeforeConnack: 0 };
  sendConnackFirst(aedes, counts, quietLogger);
  await aedes.listen();
  const server = net.createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as net.AddressInfo;
  const persistence = (aedes as unknown as { persistence: WillStore }).persistence;
  const delWill = persistence.delWill.bind(persistence);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    counts,
    holdWillStep(clientId) {
      const reached = deferred();
      const gate = deferred();
      persistence.delWill = async (client) => {
        if (client.id === clientId) {
          reached.resolve();
          await gate.promise;
        }
        return delWill(client);
      };
      return { reached: reached.promise, release: () => gate.resolve() };
    },
  };
}

/** A raw TCP client that records every packet the broker sends, decoded. */
async function rawClient(url: string): Promise<{ socket: net.Socket; packets: mqttPacket.Packet[] }> {
  const { port } = new URL(url);
  const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
  socket.on('error', () => undefined);
  cleanups.push(() => void socket.destroy());
  const packets: mqttPacket.Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p) => packets.push(p));
  socket.on('data', (chunk) => parser.parse(chunk));
  await waitForEvent(socket, 'connect');
  return { socket, packets };
}

async function until(check: () => boolean, what: string): Promise<void> {
  await withTimeout(
    (async () => {
      while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
    what,
  );
}

describe('a resumed persistent session gets its CONNACK before any message', () => {
  it.each([
    { subscribed: 1, published: 1, path: 'left to the session queue' },
    { subscribed: 0, published: 1, path: 'held, QoS 0 subscription' },
    { subscribed: 1, published: 0, path: 'held, QoS 0 message' },
  ] as const)('sends a message published during the restore after the CONNACK, once ($path)', async (c) => {
    const broker = await guardedBroker();
    const first = await connectTestClient(broker.url, { clientId: 'historian', clean: false });
    await first.subscribeAsync('plant/#', { qos: c.subscribed });
    await first.endAsync();
    const sensor = await connectTestClient(broker.url, { clientId: 'sensor' });
    cleanups.push(() => sensor.endAsync(true));

    const hold = broker.holdWillStep('historian');
    const { socket, packets } = await rawClient(broker.url);
    socket.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId: 'historian',
        clean: false,
        keepalive: 60,
      }),
    );
    await withTimeout(hold.reached, 'the CONNECT to reach the will step');
    // The session's subscription is live again, its CONNACK not yet written.
    await sensor.publishAsync('plant/press-1/count', '41', { qos: c.published });
    await until(() => broker.counts.deliveriesBeforeConnack === 1, 'the delivery to reach the guard');
    expect(packets).toEqual([]);

    hold.release();
    const payloads = () =>
      packets
        .filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish')
        .map((p) => String(p.payload));
    await until(() => payloads().includes('41'), 'the message to arrive after the CONNACK');
    // A later message marks the point by which a second copy would have arrived.
    await sensor.publishAsync('plant/marker', 'end', { qos: 0 });
    await until(() => payloads().includes('end'), 'the marker');
    expect(packets[0]).toMatchObject({ cmd: 'connack', returnCode: 0, sessionPresent: true });
    expect(payloads()).toEqual(['41', 'end']);
    expect(packets.find((p) => p.cmd === 'publish')).toMatchObject({
      topic: 'plant/press-1/count',
      qos: Math.min(c.subscribed, c.published),
    });
    expect(broker.counts.deliveriesDroppedBeforeConnack).toBe(0);
  });

  it('lets an mqtt.js client that resumes its session during traffic connect and receive', async () => {
    const broker = await guardedBroker();
    const first = await connectTestClient(broker.url, { clientId: 'historian', clean: false });
    await first.subscribeAsync('plant/#', { qos: 1 });
    await first.endAsync();
    const sensor = await connectTestClient(broker.url, { clientId: 'sensor' });
    cleanups.push(() => sensor.endAsync(true));

    const hold = broker.holdWillStep('historian');
    const resumed = connectRecordingClient(broker.url, { clientId: 'historian', clean: false });
    await withTimeout(hold.reached, 'the CONNECT to reach the will step');
    await sensor.publishAsync('plant/press-1/count', '42', { qos: 1 });
    expect(broker.counts.deliveriesBeforeConnack).toBe(1);
    hold.release();
    // Without the guard mqtt.js holds back the PUBACK of the early message until it is
    // connected, reads nothing more, and never sees its CONNACK.
    const historian = await resumed;
    cleanups.push(() => historian.client.endAsync(true));
    expect(historian.connack.sessionPresent).toBe(true);
    await historian.waitForCount(1);
    expect(historian.messages()[0]).toMatchObject({ topic: 'plant/press-1/count', payload: '42' });
  });
});

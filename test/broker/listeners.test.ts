import { readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddedBroker } from '../../broker/embedded-broker.js';
import { startTestBroker } from '../helpers/broker.js';
import { makeTestCa, type TestCa } from '../helpers/tls-ca.js';
import { waitForEvent, withTimeout } from '../helpers/wait-for.js';

let ca: TestCa;
let broker: EmbeddedBroker;
let caDir: string;

beforeAll(async () => {
  caDir = path.join(os.tmpdir(), `fieldmesh-listeners-${process.pid}`);
  ca = await makeTestCa(caDir);
  const material = { cert: await readFile(ca.certFile), key: await readFile(ca.keyFile) };
  broker = await startTestBroker({
    listeners: [
      { kind: 'tls', host: '127.0.0.1', port: 0, tls: material },
      { kind: 'ws', host: '127.0.0.1', port: 0 },
      { kind: 'wss', host: '127.0.0.1', port: 0, path: '/mqtt-secure', tls: material },
    ],
  });
});
afterAll(async () => {
  await broker.stop();
  await rm(caDir, { recursive: true, force: true });
});

function urlOf(scheme: string): string {
  const url = broker.urls().find((u) => u.startsWith(`${scheme}://`));
  if (url === undefined) throw new Error(`no ${scheme} listener in ${broker.urls().join(', ')}`);
  return url;
}

async function roundTrip(client: MqttClient, topic: string): Promise<string> {
  await client.subscribeAsync(topic, { qos: 1 });
  const got = waitForEvent(client, 'message', { filter: (t) => t === topic });
  await client.publishAsync(topic, `hello over ${topic}`, { qos: 1 });
  const [, payload] = (await got) as unknown as [string, Buffer];
  return payload.toString();
}

describe('broker listeners', () => {
  it('serves one broker over TCP, TLS, WebSocket and secure WebSocket', async () => {
    expect(broker.urls().map((u) => u.split(':')[0])).toEqual(['mqtt', 'mqtts', 'ws', 'wss']);
    const caPem = await readFile(ca.caFile);
    const clients = await Promise.all([
      connectAsync(urlOf('mqtt'), { clientId: 'tcp', reconnectPeriod: 0 }),
      connectAsync(urlOf('mqtts'), { clientId: 'tls', ca: caPem, reconnectPeriod: 0 }),
      connectAsync(urlOf('ws'), { clientId: 'ws', reconnectPeriod: 0 }),
      connectAsync(urlOf('wss'), { clientId: 'wss', ca: caPem, reconnectPeriod: 0 }),
    ]);
    try {
      // A message crosses listeners: published over WebSocket, received over TLS.
      await clients[1]?.subscribeAsync('cross/#', { qos: 1 });
      const crossed = waitForEvent(clients[1] as MqttClient, 'message', { filter: (t) => t === 'cross/ws' });
      await clients[2]?.publishAsync('cross/ws', 'from a browser', { qos: 1 });
      await crossed;
      const echoes = await Promise.all(clients.map((c, i) => roundTrip(c, `echo/${i}`)));
      expect(echoes).toEqual([0, 1, 2, 3].map((i) => `hello over echo/${i}`));
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true)));
    }
  });

  it('refuses TLS clients that do not trust its certificate, and counts plain MQTT on the TLS port', async () => {
    const { port } = new URL(urlOf('mqtts'));
    const refused = await new Promise<Error>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: Number(port), ca: [] });
      socket.on('error', resolve);
      socket.on('secureConnect', () => resolve(new Error('handshake unexpectedly succeeded')));
    });
    expect(refused.message).toMatch(/self[- ]signed|unable to (get|verify)/i);

    const before = broker.counters().tlsHandshakeFailures;
    const plain = net.connect({ host: '127.0.0.1', port: Number(port) });
    plain.on('error', () => undefined);
    await waitForEvent(plain, 'connect');
    const closed = waitForEvent(plain, 'close');
    plain.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0, 0]));
    await withTimeout(closed, 'the TLS listener to close a plain-TCP client');
    expect(broker.counters().tlsHandshakeFailures).toBeGreaterThan(before);
  });
});

import net from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMqttLink, type MqttLink, type MqttLinkInit } from '../../../agent/mqtt/link.js';
import { dialBroker } from '../../../agent/mqtt/transport.js';
import { quietLogger, startTestBroker } from '../../helpers/broker.js';
import { waitForEvent } from '../../helpers/wait-for.js';

/**
 * A stand-in for a 3.1.1-only broker that does not answer an MQTT 5 CONNECT at all but closes
 * the connection: it reads each connection's CONNECT, drops those of protocol level 5 and
 * pipes the rest to a real broker. `cut()` drops every piped connection, like a restart.
 */
async function silentlyStrictProxy(upstreamUrl: string) {
  const { hostname, port } = new URL(upstreamUrl);
  const levels: number[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    client.once('data', (first: Buffer) => {
      const level = connectLevel(first);
      levels.push(level);
      if (level === 5) {
        client.destroy();
        return;
      }
      const upstream = net.connect({ host: hostname, port: Number(port) });
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.write(first);
      client.pipe(upstream).pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    /** Protocol level of every CONNECT seen, in order. */
    levels,
    cut: () => {
      for (const s of open) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The protocol level byte of a CONNECT packet: after the fixed header and the protocol name [MQTT-3.1.2]. */
function connectLevel(packet: Buffer): number {
  let offset = 1;
  while ((packet[offset] ?? 0) & 0x80) offset++; // remaining length, 1–4 bytes
  offset++;
  const nameLength = packet.readUInt16BE(offset);
  return packet[offset + 2 + nameLength] ?? -1;
}

describe("MQTT version negotiation ('auto')", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  function link(url: string, logger = quietLogger): { link: MqttLink; dials: () => number } {
    let dials = 0;
    const init: MqttLinkInit = {
      url,
      clientId: `negotiating-${Math.random().toString(36).slice(2)}`,
      keepaliveS: 30,
      protocolVersion: 'auto',
      reconnect: { minMs: 20, maxMs: 100 },
      connectTimeoutMs: 3000,
    };
    const l = createMqttLink(init, {
      logger,
      transport: (target) => {
        dials++;
        return dialBroker(target);
      },
    });
    cleanup.push(() => l.stop());
    return { link: l, dials: () => dials };
  }

  it('settles on MQTT 3.1.1 with the embedded broker, which refuses MQTT 5 with CONNACK 1', async () => {
    const broker = await startTestBroker();
    cleanup.push(() => broker.stop());
    const lines: { msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const { link: l, dials } = link(broker.url, logger);
    await l.start();
    expect(l.protocolVersion).toBe(4);
    expect(dials()).toBe(2); // MQTT 5 refused, then 3.1.1
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        'the broker refused MQTT 5; retrying with MQTT 3.1.1',
        'the broker accepted MQTT 3.1.1; reconnects use it too',
      ]),
    );
    await l.publish('negotiated/v4', 'x', { qos: 1 });
  });

  it('falls back when a broker closes on MQTT 5 unanswered, and reconnects speak 3.1.1 at once', async () => {
    const broker = await startTestBroker();
    cleanup.push(() => broker.stop());
    const proxy = await silentlyStrictProxy(broker.url);
    cleanup.push(() => proxy.close());
    const { link: l } = link(proxy.url);
    await l.start();
    expect(l.protocolVersion).toBe(4);
    expect(proxy.levels).toEqual([5, 4]);
    const back = waitForEvent(l, 'connected');
    proxy.cut();
    await back;
    expect(proxy.levels).toEqual([5, 4, 4]);
    expect(l.protocolVersion).toBe(4);
  });
});

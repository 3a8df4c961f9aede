import { afterEach, describe, expect, it } from 'vitest';
import { createMqttLink, type MqttLink } from '../../../agent/mqtt/link.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { hasCode } from '../../../protocol/errors.js';
import { closedPort, connectTestClient, quietLogger, startTestBroker } from '../../helpers/broker.js';
import { waitForEvent, withTimeout } from '../../helpers/wait-for.js';

/** The site broker moved (mesh failover): the link follows to the new URL. */
describe('mqtt link retarget', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function broker(): Promise<EmbeddedBroker> {
    const b = await startTestBroker();
    cleanup.push(() => b.stop());
    return b;
  }

  function link(url: string): MqttLink {
    const l = createMqttLink(
      {
        url,
        clientId: `retarget-${Math.random().toString(36).slice(2)}`,
        keepaliveS: 30,
        protocolVersion: 4,
        reconnect: { minMs: 20, maxMs: 200 },
        connectTimeoutMs: 3000,
      },
      { logger: quietLogger },
    );
    cleanup.push(() => l.stop());
    return l;
  }

  it('moves to another broker, subscribes again there and keeps publishing', async () => {
    const a = await broker();
    const b = await broker();
    const l = link(a.url);
    await l.start();
    const got: string[] = [];
    await l.subscribe('in/#', 1, (_t, p) => got.push(Buffer.from(p).toString()));

    const connected = waitForEvent(l, 'connected');
    l.retarget(b.url);
    expect(l.url).toBe(b.url);
    const [info] = (await withTimeout(connected, 'connected to the second broker')) as [
      { sessionPresent: boolean },
    ];
    expect(info.sessionPresent).toBe(false);

    const sensor = await connectTestClient(b.url, { clientId: 'sensor-b' });
    cleanup.push(() => sensor.endAsync(true));
    const watcher = await connectTestClient(b.url, { clientId: 'watcher-b' });
    cleanup.push(() => watcher.endAsync(true));
    const seen = new Promise<string>((resolve) => watcher.on('message', (_t, p) => resolve(p.toString())));
    await watcher.subscribeAsync('out/x', { qos: 1 });

    // The subscription was made again on b: a reading published there reaches the handler.
    await expect
      .poll(async () => {
        await sensor.publishAsync('in/1', 'on-b', { qos: 1 });
        return got.includes('on-b');
      })
      .toBe(true);
    await l.publish('out/x', 'from-link', { qos: 1 });
    expect(await withTimeout(seen, 'publish through the second broker')).toBe('from-link');
  });

  it('follows a retarget made while it is reconnecting to a broker that is gone', async () => {
    const a = await broker();
    const l = link(a.url);
    await l.start();
    const down = waitForEvent(l, 'disconnected');
    await a.stop();
    await down;
    const queued = l.publish('out/q', 'queued while down', { qos: 1 });
    const b = await broker();
    const watcher = await connectTestClient(b.url, { clientId: 'watcher-q' });
    cleanup.push(() => watcher.endAsync(true));
    const seen = new Promise<string>((resolve) => watcher.on('message', (_t, p) => resolve(p.toString())));
    await watcher.subscribeAsync('out/q', { qos: 1 });
    l.retarget(b.url);
    // The QoS 1 publish made while no broker was there is delivered by the new one.
    await withTimeout(queued, 'queued QoS 1 acknowledged by the new broker');
    expect(await withTimeout(seen, 'queued message delivered')).toBe('queued while down');
  });

  it('refuses a URL of another scheme or no URL at all, and stays where it is', async () => {
    const port = await closedPort();
    const l = link(`mqtt://127.0.0.1:${port}`);
    let err: unknown;
    try {
      l.retarget('mqtts://127.0.0.1:8883');
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, 'MQTT_CONFIG_INVALID')).toBe(true);
    expect(() => l.retarget('nonsense')).toThrow(/not a URL/);
    expect(l.url).toBe(`mqtt://127.0.0.1:${port}`);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type IClientOptions, MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeCredentials } from '../../agent/broker-setup.js';
import { createMqttLink } from '../../agent/mqtt/link.js';
import type { AclDocument } from '../../broker/acl.js';
import { hashPassword, openCredentialStore } from '../../broker/credentials.js';
import type { EmbeddedBroker, EmbeddedBrokerInit } from '../../broker/embedded-broker.js';
import { issueBrokerToken } from '../../protocol/broker-token.js';
import { identityFromSeed } from '../../protocol/identity.js';
import { connectTestClient, quietLogger, startTestBroker } from '../helpers/broker.js';
import { waitForEvent, withTimeout } from '../helpers/wait-for.js';

const trustedNode = identityFromSeed(new Uint8Array(32).fill(1));
const strangerNode = identityFromSeed(new Uint8Array(32).fill(2));

let dir: string;
let credentialsFile: string;
const brokers: EmbeddedBroker[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fieldmesh-auth-'));
  credentialsFile = path.join(dir, 'passwd');
  const lines = [`press-1:${await hashPassword('s3cret')}`, `scada:${await hashPassword('view-only')}`];
  await writeFile(credentialsFile, `${lines.join('\n')}\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(init: Partial<EmbeddedBrokerInit> = {}): Promise<EmbeddedBroker> {
  const b = await startTestBroker({
    auth: {
      allowAnonymous: false,
      trustedNodes: [trustedNode.peerId],
      credentials: await openCredentialStore({ file: credentialsFile }),
    },
    ...init,
  });
  brokers.push(b);
  return b;
}

/** CONNACK return code the broker answers `options` with (0 = accepted). */
async function connackCode(url: string, options: IClientOptions): Promise<number> {
  const { hostname, port } = new URL(url);
  const client = new MqttClient(() => net.connect({ host: hostname, port: Number(port) }), {
    protocolVersion: 4,
    reconnectPeriod: 0,
    ...options,
  });
  try {
    return await withTimeout(
      new Promise<number>((resolve) => {
        client.once('connect', () => resolve(0));
        client.once('error', (err) => resolve(Number((err as { code?: number }).code ?? -1)));
      }),
      'CONNACK',
    );
  } finally {
    client.end(true);
  }
}

async function login(url: string, options: IClientOptions): Promise<MqttClient> {
  const c = await connectTestClient(url, options);
  clients.push(c);
  return c;
}

const token = (secretKey: Uint8Array, clientId: string, nowMs = Date.now()) =>
  issueBrokerToken(secretKey, clientId, nowMs, 300_000);

describe('broker authentication', () => {
  it('refuses anonymous clients unless anonymous access is enabled', async () => {
    const b = await broker();
    expect(await connackCode(b.url, { clientId: 'anon' })).toBe(5);
    expect(b.counters()).toMatchObject({ authFailures: 1, clientsConnected: 0 });
    const open = await broker({ auth: { allowAnonymous: true, trustedNodes: [] } });
    expect(await connackCode(open.url, { clientId: 'anon' })).toBe(0);
  });

  it('lets devices in with the password of the credentials file, and nobody with a wrong one', async () => {
    const b = await broker();
    expect(await connackCode(b.url, { clientId: 'p1', username: 'press-1', password: 's3cret' })).toBe(0);
    expect(await connackCode(b.url, { clientId: 'p1', username: 'press-1', password: 'S3cret' })).toBe(4);
    expect(await connackCode(b.url, { clientId: 'p1', username: 'nobody', password: 's3cret' })).toBe(4);
    expect(await connackCode(b.url, { clientId: 'p1', username: 'press-1' })).toBe(4);
    expect(b.counters().authFailures).toBe(3);
  });

  it('lets a trusted node in with a token signed by its key', async () => {
    const b = await broker();
    const c = await login(b.url, {
      clientId: 'fieldmesh-n1',
      username: trustedNode.peerId,
      password: token(trustedNode.secretKey, 'fieldmesh-n1'),
    });
    expect(c.connected).toBe(true);
  });

  it('refuses untrusted nodes, forged, replayed, expired and misdirected tokens', async () => {
    const b = await broker();
    const as = (username: string, password: string, clientId = 'fieldmesh-n1') => ({
      clientId,
      username,
      password,
    });
    // A valid token of a node the broker does not trust.
    expect(
      await connackCode(b.url, as(strangerNode.peerId, token(strangerNode.secretKey, 'fieldmesh-n1'))),
    ).toBe(5);
    // The stranger claims the trusted node's name but can only sign with its own key.
    expect(
      await connackCode(b.url, as(trustedNode.peerId, token(strangerNode.secretKey, 'fieldmesh-n1'))),
    ).toBe(4);
    // A token made for another client id.
    expect(await connackCode(b.url, as(trustedNode.peerId, token(trustedNode.secretKey, 'other')))).toBe(4);
    // Expired an hour ago.
    const old = token(trustedNode.secretKey, 'fieldmesh-n1', Date.now() - 3_600_000);
    expect(await connackCode(b.url, as(trustedNode.peerId, old))).toBe(4);
    // The same token twice: the second is a replay.
    const once = token(trustedNode.secretKey, 'fieldmesh-n1');
    expect(await connackCode(b.url, as(trustedNode.peerId, once))).toBe(0);
    expect(await connackCode(b.url, as(trustedNode.peerId, once))).toBe(4);
  });
});

describe('broker ACL', () => {
  const acl: AclDocument = {
    users: {
      'press-1': { roles: ['sensor'] },
      scada: { rules: [{ topic: 'plant/#', access: 'subscribe' }] },
    },
    roles: { sensor: [{ topic: 'plant/%c/#', access: 'publish' }] },
  };

  it('answers a denied subscription with SUBACK 0x80 and grants the others of the same SUBSCRIBE', async () => {
    const b = await broker({ acl });
    const scada = await login(b.url, { clientId: 'hmi', username: 'scada', password: 'view-only' });
    const granted = await scada
      .subscribeAsync({ 'plant/+/temp': { qos: 1 }, 'secret/#': { qos: 0 } })
      .catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted);
    const codes = Array.isArray(granted) ? granted.map((g) => (typeof g === 'number' ? g : g.qos)) : granted;
    expect(codes).toEqual([1, 0x80]);
    expect(b.counters().subscriptionsDenied).toBe(1);
  });

  it('drops a denied publish, keeps the publisher connected and delivers what it may publish', async () => {
    const b = await broker({ acl });
    const scada = await login(b.url, { clientId: 'hmi', username: 'scada', password: 'view-only' });
    await scada.subscribeAsync('plant/#', { qos: 1 });
    const got: string[] = [];
    scada.on('message', (topic) => got.push(topic));
    const press = await login(b.url, { clientId: 'press-1', username: 'press-1', password: 's3cret' });
    // %c: press-1 owns plant/press-1/#, not its neighbour's topics.
    await press.publishAsync('plant/press-2/temp', '21', { qos: 1 });
    const own = waitForEvent(scada, 'message', { filter: (topic) => topic === 'plant/press-1/temp' });
    await press.publishAsync('plant/press-1/temp', '22', { qos: 1 });
    await own;
    expect(press.connected).toBe(true);
    expect(got).toEqual(['plant/press-1/temp']);
    expect(b.counters().publishesDenied).toBe(1);
  });

  it('keeps node topics writable by their node only', async () => {
    const b = await broker({ acl });
    const watcher = await login(b.url, {
      clientId: 'fieldmesh-w',
      username: trustedNode.peerId,
      password: token(trustedNode.secretKey, 'fieldmesh-w'),
    });
    await watcher.subscribeAsync('fieldmesh/v1/nodes/#', { qos: 1 });
    const got: string[] = [];
    watcher.on('message', (_topic, payload) => got.push(payload.toString()));
    const own = `fieldmesh/v1/nodes/${trustedNode.peerId}`;
    const press = await login(b.url, { clientId: 'press-1', username: 'press-1', password: 's3cret' });
    await press.publishAsync(own, 'spoofed offline', { qos: 1 });
    const arrived = waitForEvent(watcher, 'message', {
      filter: (_t, payload) => String(payload) === 'online',
    });
    await watcher.publishAsync(own, 'online', { qos: 1 });
    await arrived;
    expect(got).toEqual(['online']);
  });

  it('refuses a CONNECT whose will the client could not publish (CONNACK 5)', async () => {
    const b = await broker({ acl });
    const will = {
      topic: 'plant/press-2/status',
      payload: Buffer.from('gone'),
      qos: 0 as const,
      retain: false,
    };
    expect(
      await connackCode(b.url, { clientId: 'press-1', username: 'press-1', password: 's3cret', will }),
    ).toBe(5);
    const ok = { ...will, topic: 'plant/press-1/status' };
    expect(
      await connackCode(b.url, { clientId: 'press-1', username: 'press-1', password: 's3cret', will: ok }),
    ).toBe(0);
  });
});

describe("the agent's node-key login", () => {
  it('logs in to a broker that trusts it, and says what to fix when one does not', async () => {
    const linkTo = (url: string) =>
      createMqttLink(
        {
          url,
          clientId: 'fieldmesh-n1',
          credentials: () => nodeCredentials(trustedNode, 'fieldmesh-n1'),
          keepaliveS: 30,
          protocolVersion: 4,
          reconnect: { minMs: 20, maxMs: 200 },
          connectTimeoutMs: 3000,
        },
        { logger: quietLogger },
      );
    const trusting = await broker();
    const ok = linkTo(trusting.url);
    await ok.start();
    await ok.stop();

    const stranger = await broker({ auth: { allowAnonymous: false, trustedNodes: [strangerNode.peerId] } });
    const refused = linkTo(stranger.url);
    const err = await refused.start().then(
      () => new Error('connected to a broker that does not trust this node'),
      (e: Error) => e,
    );
    await refused.stop();
    expect(err.message).toMatch(/CONNACK 5 \(not authorized\)/);
    expect(err.message).toContain(`node key (username ${trustedNode.peerId})`);
    expect(err.message).toContain('broker.auth.trustedNodes');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMqttLink, type MqttLink, type MqttLinkInit } from '../../../agent/mqtt/link.js';
import { hasCode } from '../../../protocol/errors.js';
import { connectTestClient, quietLogger } from '../../helpers/broker.js';
import { type MosquittoServer, startMosquitto } from '../../helpers/mosquitto.js';
import { makeTestCa, type TestCa } from '../../helpers/tls-ca.js';
import { deferred, withTimeout } from '../../helpers/wait-for.js';

const USER = 'agent-1';
const PASSWORD = 'correct horse';

let dir: string;
let ca: TestCa;
let mosquitto: MosquittoServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fm-mosquitto-link-'));
  ca = await makeTestCa(path.join(dir, 'ca'));
  mosquitto = await startMosquitto({
    allowAnonymous: false,
    users: { [USER]: PASSWORD, observer: 'o' },
    tls: ca,
  });
});

afterAll(async () => {
  await mosquitto?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("mqtt link against Mosquitto (Debian's package)", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  let ids = 0;
  function link(overrides: Partial<MqttLinkInit> = {}, logger = quietLogger): MqttLink {
    const l = createMqttLink(
      {
        url: mosquitto.url,
        clientId: `mosq-agent-${++ids}`,
        username: USER,
        password: PASSWORD,
        keepaliveS: 30,
        protocolVersion: 'auto',
        reconnect: { minMs: 20, maxMs: 200 },
        connectTimeoutMs: 3000,
        ...overrides,
      },
      { logger },
    );
    cleanup.push(() => l.stop());
    return l;
  }

  async function failure(l: MqttLink): Promise<Error & { returnCode?: number }> {
    const err: unknown = await withTimeout(
      l.start().catch((e: unknown) => e),
      'start() to fail',
    );
    expect(hasCode(err, 'MQTT_CONNECT_FAILED'), String(err)).toBe(true);
    return err as Error & { returnCode?: number };
  }

  it("negotiates MQTT 5 with 'auto', logs the choice, and carries QoS 1 both ways", async () => {
    const lines: { msg: string; protocolVersion?: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const l = link({}, logger);
    await l.start();
    expect(l.protocolVersion).toBe(5);
    expect(lines).toContainEqual(
      expect.objectContaining({ protocolVersion: 5, msg: expect.stringMatching(/accepted MQTT 5/) }),
    );
    const got = deferred<string>();
    await l.subscribe('mosq/echo', 1, (_topic, payload) => got.resolve(Buffer.from(payload).toString()));
    await l.publish('mosq/echo', 'over MQTT 5', { qos: 1 });
    expect(await withTimeout(got.promise, 'the echo')).toBe('over MQTT 5');
  });

  it('keeps MQTT 3.1.1 when told to', async () => {
    const l = link({ protocolVersion: 4 });
    await l.start();
    expect(l.protocolVersion).toBe(4);
  });

  it('acknowledges a burst of QoS 1 over MQTT 5 beyond the receive maximum Mosquitto announces', async () => {
    const l = link();
    await l.start();
    // Mosquitto announces receive-maximum 20 and mqtt.js does not hold to it: the broker must
    // still take (and acknowledge) more in flight at once.
    await withTimeout(
      Promise.all(Array.from({ length: 500 }, (_, i) => l.publish('mosq/burst', String(i), { qos: 1 }))),
      '500 PUBACKs',
    );
    expect(l.counters().pendingQos1).toBe(0);
  });

  it('refuses a wrong password at once, saying which settings to check', async () => {
    // Mosquitto 2 answers "not authorized" (3.1.1: 5, MQTT 5: 0x87), not "bad user name or password".
    for (const [protocolVersion, code] of [
      ['auto', 0x87],
      [4, 5],
    ] as const) {
      const err = await failure(link({ password: 'wrong', protocolVersion, connectTimeoutMs: 20_000 }));
      expect(err.returnCode).toBe(code);
      expect(err.message).toContain(mosquitto.url);
      expect(err.message).toMatch(/not authorized\): check mqtt\.username and mqtt\.password/);
    }
  });

  it('refuses a client without credentials when anonymous access is off', async () => {
    const l = createMqttLink(
      {
        url: mosquitto.url,
        clientId: `mosq-anon-${++ids}`,
        keepaliveS: 30,
        protocolVersion: 'auto',
        reconnect: { minMs: 20, maxMs: 200 },
        connectTimeoutMs: 3000,
      },
      { logger: quietLogger },
    );
    cleanup.push(() => l.stop());
    const err = await failure(l);
    expect(err.message).toMatch(/CONNACK 135 \(not authorized\)/);
    expect(err.returnCode).toBe(135);
  });

  it('connects over TLS to a broker signed by the configured CA, with credentials', async () => {
    const l = link({ url: mosquitto.tlsUrl!, tls: { ca: ca.caFile } });
    await l.start();
    expect(l.protocolVersion).toBe(5);
    await l.publish('mosq/tls', 'x', { qos: 1 });
  });

  it('refuses a broker signed by another CA, naming that CA file and the certificate shown', async () => {
    const err = await failure(
      link({ url: mosquitto.tlsUrl!, tls: { ca: ca.otherCaFile }, connectTimeoutMs: 20_000 }),
    );
    expect(err.message).toContain(mosquitto.tlsUrl!);
    expect(err.message).toContain(`the CA in mqtt.tls.ca (${ca.otherCaFile})`);
    expect(err.message).toContain('subject CN=localhost, issued by CN=fieldmesh test CA');
    expect(err.message).toMatch(/not trusted.*set mqtt\.tls\.ca/);
  });

  it('refuses a certificate that does not name the host asked for', async () => {
    const err = await failure(
      link({
        url: mosquitto.tlsUrl!,
        tls: { ca: ca.caFile, servername: 'broker.example' },
        connectTimeoutMs: 20_000,
      }),
    );
    expect(err.message).toMatch(
      /not valid for broker\.example: it names DNS:localhost, IP Address:127\.0\.0\.1.*mqtt\.tls\.servername/,
    );
  });

  it('says which CA file it cannot read, before connecting', () => {
    const missing = path.join(dir, 'no-such-ca.pem');
    expect(() => link({ url: mosquitto.tlsUrl!, tls: { ca: missing } })).toThrow(
      `mqtt.tls.ca cannot read ${JSON.stringify(missing)} (ENOENT)`,
    );
    expect(() => link({ url: mosquitto.tlsUrl!, tls: { ca: ca.caFile, cert: ca.certFile } })).toThrow(
      /mqtt\.tls\.key is missing while mqtt\.tls\.cert is set/,
    );
    expect(() => link({ tls: { ca: ca.caFile } })).toThrow(/mqtt\.tls is set but mqtt\.url is not a TLS URL/);
  });

  it('serves a plain 3.1.1 sensor and the agent link on the same broker', async () => {
    const l = link();
    await l.start();
    const got = deferred<string>();
    await l.subscribe('plant/+/t', 1, (topic) => got.resolve(topic));
    const sensor = await connectTestClient(mosquitto.url, {
      clientId: 'sensor',
      username: 'observer',
      password: 'o',
    });
    cleanup.push(() => sensor.endAsync(true));
    await sensor.publishAsync('plant/s1/t', '21.5', { qos: 1 });
    expect(await withTimeout(got.promise, 'the reading')).toBe('plant/s1/t');
  });
});

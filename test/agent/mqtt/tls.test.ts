import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Aedes } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMqttLink } from '../../../agent/mqtt/link.js';
import { dialBroker } from '../../../agent/mqtt/transport.js';
import { hasCode } from '../../../protocol/errors.js';
import { quietLogger } from '../../helpers/broker.js';
import { hasNoDelay } from '../../helpers/socket.js';
import { withTimeout } from '../../helpers/wait-for.js';

/** A self-signed certificate for "localhost" from the openssl CLI; null when openssl is missing. */
function selfSigned(dir: string): { key: Buffer; cert: Buffer } | null {
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
      ].concat([
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
      ]),
      { stdio: 'ignore' },
    );
  } catch {
    return null;
  }
  return { key: fs.readFileSync(keyPath), cert: fs.readFileSync(certPath) };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fieldmesh-tls-'));
const pem = selfSigned(dir);
if (pem === null) fs.rmSync(dir, { recursive: true, force: true });

describe.skipIf(pem === null)('mqtt link over TLS (mqtts://)', () => {
  let aedes: Aedes;
  let server: tls.Server;
  let port = 0;

  beforeAll(async () => {
    if (pem === null) return;
    aedes = await Aedes.createBroker();
    server = tls.createServer({ key: pem.key, cert: pem.cert }, (socket) => aedes.handle(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const base = {
    keepaliveS: 30,
    protocolVersion: 4 as const,
    reconnect: { minMs: 20, maxMs: 100 },
    // Long: a certificate it does not trust fails start() at once, not at this deadline.
    connectTimeoutMs: 10_000,
  };

  it('dials TLS with TCP_NODELAY and explains a certificate it does not trust', async () => {
    const sockets: tls.TLSSocket[] = [];
    const link = createMqttLink(
      { url: `mqtts://localhost:${port}`, clientId: 'tls-untrusted', ...base },
      {
        logger: quietLogger,
        transport: (target) => {
          const socket = dialBroker(target) as tls.TLSSocket;
          sockets.push(socket);
          return socket;
        },
      },
    );
    const err: unknown = await withTimeout(
      link.start().catch((e: unknown) => e),
      'the TLS refusal (well before connectTimeoutMs)',
    );
    expect(hasCode(err, 'MQTT_CONNECT_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(
      /mqtts:\/\/localhost:\d+: TLS failed: the broker's certificate \(subject CN=localhost, issued by CN=localhost\) is not trusted.*NODE_EXTRA_CA_CERTS/,
    );
    expect(sockets.length).toBeGreaterThan(0);
    expect(sockets[0]).toBeInstanceOf(tls.TLSSocket);
    expect(hasNoDelay(sockets[0]!)).toBe(true);
  });

  it('connects and publishes once the certificate is trusted', async () => {
    const link = createMqttLink(
      { url: `mqtts://localhost:${port}`, clientId: 'tls-trusted', ...base },
      {
        logger: quietLogger,
        // Trust comes from the system store or NODE_EXTRA_CA_CERTS in production; here, the test's CA.
        transport: (target) =>
          tls.connect({ host: target.host, port: target.port, servername: target.host, ca: pem!.cert }),
      },
    );
    await link.start();
    await link.publish('over/tls', 'x', { qos: 1 });
    await link.stop();
    expect(link.connected).toBe(false);
  });
});

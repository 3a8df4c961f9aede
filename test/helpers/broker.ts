import net from 'node:net';
import { type IClientOptions, MqttClient } from 'mqtt';
import { pino } from 'pino';
import {
  createEmbeddedBroker,
  type EmbeddedBroker,
  type EmbeddedBrokerInit,
} from '../../broker/embedded-broker.js';
import { withTimeout } from './wait-for.js';

/** A logger that writes nothing, for parts under test. */
export const quietLogger = pino({ level: 'silent' });

/**
 * Starts the real embedded broker on 127.0.0.1 and an ephemeral port, open to anonymous
 * clients (unless `init` says otherwise). Stop it in afterEach/finally: `await broker.stop()`.
 */
export async function startTestBroker(init: Partial<EmbeddedBrokerInit> = {}): Promise<EmbeddedBroker> {
  const broker = createEmbeddedBroker(
    {
      host: '127.0.0.1',
      port: 0,
      closeGraceMs: 500,
      // Most tests are about something else than who may connect; auth tests pass their own.
      auth: { allowAnonymous: true, trustedNodes: 'any' },
      ...init,
    },
    { logger: quietLogger.child({ component: 'broker' }) },
  );
  await broker.start();
  return broker;
}

/**
 * A plain mqtt.js client (MQTT 3.1.1, no automatic reconnect) connected to `url`, to play a
 * sensor or an observer. Resolves after CONNACK 0; rejects on a refusal or after the timeout.
 * Close it with `await client.endAsync(true)`.
 */
export async function connectTestClient(
  url: string,
  options: IClientOptions & { localAddress?: string } = {},
): Promise<MqttClient> {
  const { hostname, port } = new URL(url);
  const local = options.localAddress === undefined ? {} : { localAddress: options.localAddress };
  const client = new MqttClient(() => net.connect({ host: hostname, port: Number(port), ...local }), {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
  const connected = new Promise<void>((resolve, reject) => {
    client.once('connect', () => {
      client.off('error', reject);
      resolve();
    });
    client.once('error', reject);
  });
  try {
    await withTimeout(connected, `test client to connect to ${url}`);
  } catch (err) {
    client.end(true);
    throw err;
  }
  // A test client that errors later (a refused PUBLISH closes it) must not crash the run.
  client.on('error', () => undefined);
  return client;
}

/** A loopback port nothing listens on (bound, read, released). Something could take it meanwhile; unlikely in a test. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

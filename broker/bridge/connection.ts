import net from 'node:net';
import tls from 'node:tls';
import { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { type BackoffPolicy, reconnectDelayMs } from '../../protocol/backoff.js';

/** One side of the bridge: where to dial and as whom. */
export interface Endpoint {
  /** mqtt://host:port or mqtts://host:port (credentials in the URL are ignored; use the fields). */
  url: string;
  clientId: string;
  /** false: a persistent session, so the broker queues QoS 1 messages while the bridge is away. */
  clean: boolean;
  keepaliveS: number;
  connectTimeoutMs: number;
  username?: string;
  password?: string;
  /** Called for every attempt; replaces username and password (a node's short-lived login token). */
  credentials?: () => { username: string; password: string };
  /** PEM contents (read from the configured files at start), for mqtts:// only. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

/**
 * One connection attempt with mqtt.js and no automatic anything: reconnects are the caller's
 * (backoff with jitter), resubscription too (only when the broker lost the session, because
 * subscribing again makes it resend retained messages [MQTT-3.8.4-3]).
 */
export function connectOnce(
  endpoint: Endpoint,
  prepare: (client: MqttClient) => void = () => undefined,
): Promise<{ client: MqttClient; sessionPresent: boolean }> {
  const { protocol, hostname, port } = new URL(endpoint.url);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  const secure = protocol === 'mqtts:' || protocol === 'ssl:';
  const dialPort = port === '' ? (secure ? 8883 : 1883) : Number(port);
  const client = new MqttClient(
    () =>
      secure
        ? tls.connect({
            host,
            port: dialPort,
            ...(net.isIP(host) === 0 ? { servername: host } : {}),
            ...endpoint.tls,
          })
        : net.connect({ host, port: dialPort, noDelay: true }),
    {
      clientId: endpoint.clientId,
      clean: endpoint.clean,
      keepalive: endpoint.keepaliveS,
      protocolVersion: 4,
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: endpoint.connectTimeoutMs,
      queueQoSZero: false,
      manualConnect: true,
      ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
      ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
      ...endpoint.credentials?.(),
    },
  );
  prepare(client);
  const connected = new Promise<{ client: MqttClient; sessionPresent: boolean }>((resolve, reject) => {
    const failed = (err: Error) => {
      client.removeAllListeners('connect');
      client.off('error', failed);
      client.off('close', closed);
      // Later errors of this abandoned client must not crash the process.
      client.on('error', () => undefined);
      client.end(true);
      reject(err);
    };
    const closed = () => failed(new Error('the connection closed before CONNACK'));
    client.once('error', failed);
    client.once('close', closed);
    client.once('connect', (connack) => {
      client.off('error', failed);
      client.off('close', closed);
      resolve({ client, sessionPresent: connack.sessionPresent === true });
    });
  });
  client.connect();
  return connected;
}

export interface KeeperHooks {
  /** What the logs call this side: 'local' or 'upstream'. */
  side: string;
  endpoint: Endpoint;
  backoff: BackoffPolicy;
  log: Logger;
  /** Called with each new client before it sends CONNECT. */
  prepare?(client: MqttClient): void;
  /** A connection is up; it is the caller's until 'close'. */
  onUp(client: MqttClient, sessionPresent: boolean): void;
  /** The connection that onUp handed over is gone. */
  onDown(): void;
}

/** Keeps one side connected: connects, and after every loss reconnects with jittered backoff. */
export class ConnectionKeeper {
  private client: MqttClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private running = false;
  lastError: string | null = null;
  connects = 0;

  constructor(private readonly hooks: KeeperHooks) {}

  start(): void {
    this.running = true;
    void this.dial();
  }

  /** Drops the current connection (the broker resends what was not acknowledged) and reconnects. */
  restart(reason: string): void {
    this.hooks.log.warn({ side: this.hooks.side, reason }, 'bridge: dropping connection to recover');
    this.client?.end(true);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    if (client !== null) await client.endAsync(true).catch(() => undefined);
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  private async dial(): Promise<void> {
    this.timer = null;
    const { side, endpoint, log } = this.hooks;
    try {
      const { client, sessionPresent } = await connectOnce(endpoint, (c) => this.hooks.prepare?.(c));
      if (!this.running) {
        client.end(true);
        return;
      }
      this.attempt = 0;
      this.connects++;
      this.lastError = null;
      this.client = client;
      client.on('error', (err) => {
        this.lastError = err.message;
        log.warn({ side, url: endpoint.url, err: err.message }, 'bridge: connection error');
      });
      client.once('close', () => {
        if (this.client === client) this.client = null;
        if (this.running)
          log.warn({ side, url: endpoint.url, err: this.lastError }, 'bridge: connection lost');
        this.hooks.onDown();
        this.schedule();
      });
      log.info({ side, url: endpoint.url, sessionPresent }, 'bridge: connected');
      this.hooks.onUp(client, sessionPresent);
    } catch (err) {
      const first = this.lastError === null;
      this.lastError = err instanceof Error ? err.message : String(err);
      // The first failure of a run of them is worth an operator's attention; the retries are not.
      log[first ? 'warn' : 'debug'](
        { side, url: endpoint.url, err: this.lastError },
        'bridge: cannot connect; retrying with backoff',
      );
      this.schedule();
    }
  }

  private schedule(): void {
    if (!this.running || this.timer !== null) return;
    this.attempt++;
    const delay = reconnectDelayMs(this.attempt, this.hooks.backoff, Math.random);
    this.timer = setTimeout(() => void this.dial(), delay);
  }
}

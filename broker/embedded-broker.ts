import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { RateLimiter } from '../protocol/rate-limit.js';
import { DEFAULT_TOPIC_ROOT } from '../protocol/topics.js';
import { compileAcl, OPEN_ACL } from './acl.js';
import { createBrokerAuthenticator } from './auth.js';
import { type EmbeddedBrokerInit, type ResolvedLimits, resolveLimits } from './broker-init.js';
import { type ConnackFirstCounts, sendConnackFirst } from './connack-first.js';
import { BrokerSetupError, ConnectRefusedError } from './errors.js';
import { createBrokerHooks, type HookCounts, remoteAddressOf, skipDeniedPublishes } from './hooks.js';
import { LogThrottle } from './log-throttle.js';
import { guardPacketSize, PacketTooLargeError } from './packet-guard.js';
import { type BrokerStorage, openBrokerStorage } from './storage.js';
import { createTcpListener, type ListenAddress, type TcpListener } from './tcp-listener.js';

export type { BrokerLimits, EmbeddedBrokerInit, ExtraListener } from './broker-init.js';

export interface EmbeddedBrokerComponents {
  logger: Logger;
}

export interface BrokerCounters extends Readonly<HookCounts>, Readonly<ConnackFirstCounts> {
  /** Clients connected now (CONNACK 0 sent, not yet gone). */
  readonly clientsConnected: number;
  /** TCP connections closed at once because their address opened too many too fast. */
  readonly connectionsRateLimited: number;
  /** Connections closed for sending a packet over limits.maxPacketBytes. */
  readonly packetsTooLarge: number;
  /** Connections closed for a malformed packet or another protocol error. */
  readonly protocolErrors: number;
  /** TLS handshakes that failed (untrusted client certificate, plain MQTT on a TLS port...). */
  readonly tlsHandshakeFailures: number;
}

/** The MQTT 3.1.1 broker an agent can embed for sites without one (aedes). */
export interface EmbeddedBroker {
  /** Rejects with BrokerListenError (BROKER_LISTEN_FAILED) or BrokerSetupError (BROKER_SETUP_FAILED). */
  start(): Promise<void>;
  /** Stops accepting, closes every client, destroys what is left after the grace; never hangs. */
  stop(): Promise<void>;
  /** The main TCP listener's bound address once started; the configured one before. */
  address(): ListenAddress;
  /** Where a client on this host reaches the main listener, e.g. `mqtt://127.0.0.1:1883`. */
  readonly url: string;
  /** Every listener's local URL (mqtt://, mqtts://, ws://, wss://), once started. */
  urls(): string[];
  counters(): BrokerCounters;
}

interface Running {
  aedes: Aedes;
  listeners: TcpListener[];
  storage: BrokerStorage;
}

const DEFAULT_CLOSE_GRACE_MS = 1000;

export function createEmbeddedBroker(
  init: EmbeddedBrokerInit,
  components: EmbeddedBrokerComponents,
): EmbeddedBroker {
  const limits = resolveLimits(init);
  const acl = compileAcl(init.acl ?? OPEN_ACL, {
    topicRoot: init.topicRoot ?? DEFAULT_TOPIC_ROOT,
    allowAnonymous: init.auth.allowAnonymous,
  });
  const auth = createBrokerAuthenticator(init.auth);
  const log = components.logger;
  const closeGraceMs = init.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  const connectedIds = new Set<string>();
  const counts = {
    connectsRefused: 0,
    authFailures: 0,
    messagesPublished: 0,
    publishesDenied: 0,
    subscriptionsDenied: 0,
    droppedSlowConsumer: 0,
    slowConsumersDisconnected: 0,
    connectionsRateLimited: 0,
    packetsTooLarge: 0,
    protocolErrors: 0,
    tlsHandshakeFailures: 0,
    deliveriesBeforeConnack: 0,
    deliveriesDroppedBeforeConnack: 0,
  };
  const throttle = new LogThrottle();
  let running: Running | null = null;
  let starting: Promise<void> | null = null;
  let stopping: Promise<void> | null = null;

  const start = async (): Promise<void> => {
    const storage = await openBrokerStorage(init.storage ?? { kind: 'memory' }, log);
    const denied = new WeakSet<object>();
    const hooks = createBrokerHooks(
      {
        maxClients: limits.maxClients,
        connectedIds,
        auth,
        acl,
        qos0BacklogBytes: limits.qos0BacklogBytes,
        slowConsumerBytes: limits.slowConsumerBytes,
        counts,
        denied,
      },
      log,
    );
    const aedes = new Aedes({
      ...hooks,
      connectTimeout: limits.connectTimeoutMs,
      drainTimeout: limits.drainTimeoutMs,
      ...(storage.persistence === undefined ? {} : { persistence: storage.persistence }),
      ...(storage.mq === undefined ? {} : { mq: storage.mq }),
      ...(storage.maxTopicLevels === undefined ? {} : { maxTopicLevels: storage.maxTopicLevels }),
    });
    skipDeniedPublishes(aedes, denied);
    sendConnackFirst(aedes, counts, log);
    try {
      await aedes.listen();
    } catch (err) {
      await closeAedes(aedes, closeGraceMs, log);
      await storage.close();
      throw new BrokerSetupError(err);
    }
    observe(aedes, log, connectedIds, counts, throttle);
    const listeners = createListeners(aedes, limits, counts, throttle);
    try {
      for (const listener of listeners) await listener.start();
    } catch (err) {
      await Promise.all(listeners.map((l) => l.stop()));
      await closeAedes(aedes, closeGraceMs, log);
      await storage.close();
      throw err;
    }
    running = { aedes, listeners, storage };
    log.debug({ urls: urlsOf(listeners) }, 'broker listening');
  };

  const createListeners = (
    aedes: Aedes,
    resolved: ResolvedLimits,
    c: typeof counts,
    t: LogThrottle,
  ): TcpListener[] => {
    const limiter = new RateLimiter(
      { burst: resolved.connectionBurst, perSecond: resolved.connectionsPerSecond },
      Date.now,
    );
    let guardMissing = false;
    const onConnection = (stream: Duplex, request?: IncomingMessage) => {
      const client = aedes.handle(stream as net.Socket, request);
      if (!guardPacketSize(client, resolved.maxPacketBytes) && !guardMissing) {
        guardMissing = true;
        log.warn('this aedes version has no parser hook: limits.maxPacketBytes is not enforced');
      }
    };
    const admit = (socket: net.Socket): boolean => {
      const address = socket.remoteAddress ?? '?';
      if (limiter.waitMs(address) === 0) {
        limiter.charge(address);
        return true;
      }
      c.connectionsRateLimited++;
      const held = t.admit(`rate:${address}`);
      if (held >= 0)
        log.warn(
          { remote: address, held, perSecond: resolved.connectionsPerSecond },
          'closed a connection: this address opens connections too fast (broker.limits.connectionsPerSecond)',
        );
      return false;
    };
    const onTlsError = (err: Error, socket: net.Socket) => {
      c.tlsHandshakeFailures++;
      const held = t.admit(`tls:${socket.remoteAddress ?? '?'}`);
      if (held >= 0)
        log.warn({ remote: socket.remoteAddress, held, err: err.message }, 'TLS handshake failed');
    };
    const specs = [{ kind: 'tcp' as const, host: init.host, port: init.port }, ...(init.listeners ?? [])];
    return specs.map((spec) =>
      createTcpListener(
        { ...spec, closeGraceMs, highWaterMark: resolved.slowConsumerBytes },
        { logger: log, onConnection, admit, onTlsError },
      ),
    );
  };

  const stop = async (): Promise<void> => {
    const current = running;
    if (current === null) return;
    // Stop accepting first so no client slips in while aedes closes the others.
    const listenersClosed = Promise.all(current.listeners.map((l) => l.stop()));
    await closeAedes(current.aedes, closeGraceMs, log);
    await listenersClosed;
    await current.storage
      .close()
      .catch((err: Error) => log.warn({ err: err.message }, 'broker storage did not close cleanly'));
    running = null;
    connectedIds.clear();
    log.debug('broker stopped');
  };

  const address = (): ListenAddress =>
    running?.listeners[0]?.address() ?? { host: init.host, port: init.port };

  // Calls that overlap a start or a stop wait for it, then do their own part.
  const startOnce = (): Promise<void> => {
    if (stopping !== null) return stopping.then(startOnce);
    if (running !== null) return Promise.resolve();
    starting ??= start().finally(() => {
      starting = null;
    });
    return starting;
  };
  const stopOnce = (): Promise<void> => {
    if (starting !== null) return starting.then(stopOnce, () => undefined);
    stopping ??= stop().finally(() => {
      stopping = null;
    });
    return stopping;
  };

  return {
    start: startOnce,
    stop: stopOnce,
    address,
    get url() {
      return urlFor('tcp', address());
    },
    urls: () => (running === null ? [] : urlsOf(running.listeners)),
    counters: () => ({ clientsConnected: connectedIds.size, ...counts }),
  };
}

/** Counts and logs what aedes reports. Every listener here logs and never throws. */
function observe(
  aedes: Aedes,
  log: Logger,
  connectedIds: Set<string>,
  counts: { packetsTooLarge: number; protocolErrors: number },
  throttle: LogThrottle,
): void {
  aedes.on('client', (client) => {
    connectedIds.add(client.id);
    log.debug({ client: client.id }, 'client connected');
  });
  aedes.on('clientDisconnect', (client) => {
    connectedIds.delete(client.id);
    log.debug({ client: client.id }, 'client disconnected');
  });
  aedes.on('keepaliveTimeout', (client) => {
    log.debug({ client: client.id }, 'client keepalive expired');
  });
  const problem = (client: { id?: string; conn: unknown }, err: Error, what: string) => {
    // Our own refusals were logged and counted, with their reason, where they were decided.
    if (err instanceof ConnectRefusedError) return;
    if (err instanceof PacketTooLargeError) counts.packetsTooLarge++;
    else if (!isDisconnectNoise(err)) counts.protocolErrors++;
    else return;
    const remote = remoteAddressOf(client);
    const held = throttle.admit(`err:${remote ?? client.id}`);
    if (held >= 0) log.warn({ client: client.id ?? null, remote, held, err: err.message }, what);
  };
  aedes.on('clientError', (client, err) => problem(client, err, 'client error; its connection is closed'));
  aedes.on('connectionError', (client, err) =>
    problem(client, err, 'connection error before CONNECT completed'),
  );
  // An 'error' without a listener would crash the process (persistence or will-sweep failures).
  // aedes's typings list only its own events, hence the base EventEmitter method.
  EventEmitter.prototype.on.call(aedes, 'error', (err: Error) =>
    log.warn({ err: err.message }, 'broker error'),
  );
}

/** Socket resets and timeouts are how clients leave, not protocol errors. */
function isDisconnectNoise(err: Error): boolean {
  const code = (err as { code?: string }).code;
  return (
    code === 'ECONNRESET' || code === 'EPIPE' || /connection closed|keep ?alive|timeout/i.test(err.message)
  );
}

/** aedes.close waits for every client to close; bounded so stop() never hangs on one. */
function closeAedes(aedes: Aedes, graceMs: number, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      log.warn({ graceMs }, 'broker core did not close within the grace; going on');
      resolve();
    }, graceMs);
    aedes.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function urlsOf(listeners: readonly TcpListener[]): string[] {
  return listeners.flatMap((l) => {
    const a = l.address();
    return a === null ? [] : [urlFor(l.kind, a, l.path)];
  });
}

const SCHEMES = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' } as const;

/** A URL a local client can dial: the unspecified address is replaced by loopback. */
function urlFor(kind: keyof typeof SCHEMES, { host, port }: ListenAddress, path = ''): string {
  const dial = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `${SCHEMES[kind]}://${net.isIPv6(dial) ? `[${dial}]` : dial}:${port}${path}`;
}

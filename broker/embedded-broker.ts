import { EventEmitter } from 'node:events';
import net from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { BrokerConfigError, BrokerSetupError, ConnectRefusedError, PublishRefusedError } from './errors.js';
import { createBrokerHooks } from './hooks.js';
import { type BrokerStorage, type BrokerStorageSpec, openBrokerStorage } from './storage.js';
import { createTcpListener, type ListenAddress, type TcpListener } from './tcp-listener.js';

export interface EmbeddedBrokerInit {
  /** Address to listen on: 127.0.0.1 for this host only, 0.0.0.0 for the whole LAN. */
  host: string;
  /** TCP port; 0 lets the OS pick a free one (read it back with address()). */
  port: number;
  /** Refuse further CONNECTs with CONNACK 3 (server unavailable) once this many clients are in. */
  maxClients?: number;
  /** How long stop() waits for clients to go before destroying their sockets (default 1000 ms). */
  closeGraceMs?: number;
  /** Sessions, retained and queued messages: memory (default), disk, or a shared Redis. */
  storage?: BrokerStorageSpec;
}

export interface EmbeddedBrokerComponents {
  logger: Logger;
}

export interface BrokerCounters {
  /** Clients connected now (CONNACK 0 sent, not yet gone). */
  clientsConnected: number;
  /** PUBLISH packets (and wills) allowed through since creation; the broker's own $SYS excluded. */
  messagesPublished: number;
  /** CONNECTs answered with a non-zero CONNACK by this broker's own rules. */
  connectsRefused: number;
}

/** The MQTT 3.1.1 broker an agent can embed for sites without one (aedes over plain TCP). */
export interface EmbeddedBroker {
  /** Rejects with BrokerListenError (BROKER_LISTEN_FAILED) or BrokerSetupError (BROKER_SETUP_FAILED). */
  start(): Promise<void>;
  /** Stops accepting, closes every client, destroys what is left after the grace; never hangs. */
  stop(): Promise<void>;
  /** The bound address once started; the configured one before. */
  address(): ListenAddress;
  /** Where a client on this host reaches the broker, e.g. `mqtt://127.0.0.1:1883`. */
  readonly url: string;
  counters(): BrokerCounters;
}

const DEFAULT_CLOSE_GRACE_MS = 1000;

export function createEmbeddedBroker(
  init: EmbeddedBrokerInit,
  components: EmbeddedBrokerComponents,
): EmbeddedBroker {
  validate(init);
  const log = components.logger;
  const closeGraceMs = init.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
  const connectedIds = new Set<string>();
  const counts = { messagesPublished: 0, connectsRefused: 0 };
  let running: { aedes: Aedes; listener: TcpListener; storage: BrokerStorage } | null = null;
  let starting: Promise<void> | null = null;
  let stopping: Promise<void> | null = null;

  const start = async (): Promise<void> => {
    const hooks = createBrokerHooks(
      {
        maxClients: init.maxClients,
        connectedIds,
        connectRefused: () => counts.connectsRefused++,
        publishAccepted: () => counts.messagesPublished++,
      },
      log,
    );
    const storage = await openBrokerStorage(init.storage ?? { kind: 'memory' }, log);
    const aedes = new Aedes({
      ...hooks,
      ...(storage.persistence === undefined ? {} : { persistence: storage.persistence }),
      ...(storage.mq === undefined ? {} : { mq: storage.mq }),
    });
    try {
      await aedes.listen();
    } catch (err) {
      await closeAedes(aedes, closeGraceMs, log);
      await storage.close();
      throw new BrokerSetupError(err);
    }
    observe(aedes, log, connectedIds);
    const listener = createTcpListener(
      { host: init.host, port: init.port, closeGraceMs },
      { logger: log, onConnection: (socket) => aedes.handle(socket) },
    );
    try {
      await listener.start();
    } catch (err) {
      await closeAedes(aedes, closeGraceMs, log);
      await storage.close();
      throw err;
    }
    running = { aedes, listener, storage };
    log.debug({ address: listener.address() }, 'broker listening');
  };

  const stop = async (): Promise<void> => {
    const current = running;
    if (current === null) return;
    // Stop accepting first so no client slips in while aedes closes the others.
    const listenerClosed = current.listener.stop();
    await closeAedes(current.aedes, closeGraceMs, log);
    await listenerClosed;
    await current.storage
      .close()
      .catch((err: Error) => log.warn({ err: err.message }, 'broker storage did not close cleanly'));
    running = null;
    connectedIds.clear();
    log.debug('broker stopped');
  };

  const address = (): ListenAddress => running?.listener.address() ?? { host: init.host, port: init.port };

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
      return urlFor(address());
    },
    counters: () => ({ clientsConnected: connectedIds.size, ...counts }),
  };
}

function validate(init: EmbeddedBrokerInit): void {
  if (!Number.isInteger(init.port) || init.port < 0 || init.port > 65_535) {
    throw new BrokerConfigError('port', `is ${init.port}; use an integer from 0 (any free port) to 65535`);
  }
  if (init.maxClients !== undefined && (!Number.isInteger(init.maxClients) || init.maxClients < 1)) {
    throw new BrokerConfigError(
      'maxClients',
      `is ${init.maxClients}; use a positive integer or leave it out`,
    );
  }
  if (init.closeGraceMs !== undefined && (!Number.isFinite(init.closeGraceMs) || init.closeGraceMs < 0)) {
    throw new BrokerConfigError(
      'closeGraceMs',
      `is ${init.closeGraceMs}; use a non-negative number of milliseconds`,
    );
  }
}

/** Counts and logs what aedes reports. Every listener here logs and never throws. */
function observe(aedes: Aedes, log: Logger, connectedIds: Set<string>): void {
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
  aedes.on('clientError', (client, err) => {
    // Our own refusals were logged and counted, with their reason, where they were decided.
    if (err instanceof ConnectRefusedError || err instanceof PublishRefusedError) return;
    log.warn({ client: client.id, err: err.message }, 'client error');
  });
  aedes.on('connectionError', (client, err) => {
    if (err instanceof ConnectRefusedError) return;
    const conn = client.conn as { remoteAddress?: string };
    log.warn({ client: client.id ?? null, remote: conn.remoteAddress, err: err.message }, 'connection error');
  });
  // An 'error' without a listener would crash the process (persistence or will-sweep failures).
  // aedes's typings list only its own events, hence the base EventEmitter method.
  EventEmitter.prototype.on.call(aedes, 'error', (err: Error) =>
    log.warn({ err: err.message }, 'broker error'),
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

/** A URL a local client can dial: the unspecified address is replaced by loopback. */
function urlFor({ host, port }: ListenAddress): string {
  const dial = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `mqtt://${net.isIPv6(dial) ? `[${dial}]` : dial}:${port}`;
}

import aedesPersistenceRedis from 'aedes-persistence-redis';
import { Redis, type RedisOptions } from 'ioredis';
import mqemitterRedis from 'mqemitter-redis';
import type { Logger } from 'pino';
import type { BrokerStorage } from './storage.js';
import { RedisUnreachableError, redactUrl } from './storage-errors.js';

export interface RedisStorageInit {
  url: string;
  /** Namespace: keys are `<prefix>:…`, channels `<prefix>/<topic>`; brokers of one site share it. */
  prefix: string;
  /** How long start waits for Redis to answer. */
  connectTimeoutMs: number;
}

type MQEmitterRedis = ReturnType<typeof mqemitterRedis>;

/**
 * mqemitter-redis with every channel under a prefix. Redis pub/sub ignores the DB number, so
 * without it two sites (or two test files) on one Redis server would hear each other's
 * messages and subscription broadcasts. The package exports it without typings.
 */
const MQEmitterRedisPrefix = (
  mqemitterRedis as unknown as {
    MQEmitterRedisPrefix: new (
      prefix: string,
      options: { subConn: Redis; pubConn: Redis; matchEmptyLevels: boolean; concurrency: number },
    ) => MQEmitterRedis;
  }
).MQEmitterRedisPrefix;

/**
 * Queued messages handed to a persistent session at one CONNECT (the library's default is
 * 1000; the rest would wait for the next CONNECT). The list of their keys is held in memory
 * while they go out.
 */
const MAX_SESSION_DELIVERY = 100_000;
/**
 * qlobber (inside mqemitter) throws, synchronously, on topics of more than 100 levels, and
 * aedes guards only up to its maxTopicLevels (at most 100); the channel prefix is one more.
 */
export const REDIS_MAX_TOPIC_LEVELS = 99;
/** What aedes gives its own in-memory mqemitter. */
const MQ_CONCURRENCY = 100;
/** How long close() waits for the libraries to say goodbye before cutting the connections. */
const CLOSE_GRACE_MS = 1000;

/**
 * Three connections to one Redis: one for aedes-persistence-redis (sessions, subscriptions,
 * retained and queued messages) and the subscriber/publisher pair mqemitter-redis needs.
 * Commands wait, in order, while Redis is unreachable (`maxRetriesPerRequest: null`): a broker
 * that loses Redis holds its traffic in memory rather than failing it (docs/broker-storage.md).
 */
export async function openRedisStorage(init: RedisStorageInit, logger: Logger): Promise<BrokerStorage> {
  const shown = redactUrl(init.url);
  const log = logger.child({ redis: shown });
  const options: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: init.connectTimeoutMs,
  };
  const db = new Redis(init.url, {
    ...options,
    keyPrefix: `${init.prefix}:`,
    connectionName: 'fieldmesh-broker',
  });
  const sub = new Redis(init.url, { ...options, connectionName: 'fieldmesh-broker-sub' });
  const pub = new Redis(init.url, { ...options, connectionName: 'fieldmesh-broker-pub' });
  const connections = [db, sub, pub];
  try {
    await connectAll(connections, init.connectTimeoutMs);
  } catch (err) {
    for (const c of connections) {
      c.on('error', () => undefined); // its last reconnect attempt may still report
      c.disconnect();
    }
    throw new RedisUnreachableError(shown, init.connectTimeoutMs, err);
  }
  const health = watchConnections(connections, log);
  for (const c of [sub, pub]) handleQuit(c);
  const persistence = aedesPersistenceRedis({ conn: db, maxSessionDelivery: MAX_SESSION_DELIVERY });
  // The channel prefix ends with the topic separator so it is a topic level of its own: glued
  // to the first level, it would break filters that start with a wildcard (`#`, `+/temp`).
  const mq = new MQEmitterRedisPrefix(`${init.prefix}/`, {
    subConn: sub,
    pubConn: pub,
    matchEmptyLevels: true, // [MQTT-4.7.1-3], as aedes's own mqemitter
    concurrency: MQ_CONCURRENCY,
  });
  guardTopicLevels(mq);
  // mqemitter-redis re-emits connection errors on `state`; unheard, they would crash the process.
  (mq as unknown as { state: { on(event: 'error', l: (err: Error) => void): void } }).state.on(
    'error',
    () => undefined, // already logged by watchConnections, once per outage
  );

  const close = closer({ db, sub, pub, mq }, health, log);
  log.debug({ prefix: init.prefix }, 'broker Redis storage open');
  return { kind: 'redis', persistence, mq, close, maxTopicLevels: REDIS_MAX_TOPIC_LEVELS };
}

type Done = (err?: Error) => void;

/**
 * Refuses, through the callback, topics too deep for the prefixed channel: unguarded, a
 * 100-level SUBSCRIBE throws 'too many words' from qlobber and takes the process down.
 */
function guardTopicLevels(mq: MQEmitterRedis): void {
  const target = mq as unknown as Record<'on' | 'removeListener' | 'emit', (...args: unknown[]) => unknown>;
  const tooDeep = (topic: unknown) =>
    typeof topic === 'string' && topic.split('/').length > REDIS_MAX_TOPIC_LEVELS;
  const refuse = (topic: string, done: unknown) => {
    const err = new Error(
      `topic ${JSON.stringify(topic.slice(0, 80))}… has more than ${REDIS_MAX_TOPIC_LEVELS} levels, the most a broker on Redis carries`,
    );
    if (typeof done === 'function') (done as Done)(err);
  };
  for (const name of ['on', 'removeListener'] as const) {
    const original = target[name].bind(mq);
    target[name] = (topic, listener, done) => {
      if (!tooDeep(topic)) return original(topic, listener, done);
      refuse(topic as string, done);
      return mq;
    };
  }
  const emit = target.emit.bind(mq);
  target.emit = (packet, done) => {
    const topic = (packet as { topic?: unknown }).topic;
    return tooDeep(topic) ? refuse(topic as string, done) : emit(packet, done);
  };
}

/**
 * mqemitter-redis's close() calls quit() on both of its connections and drops the promise; when
 * the connection ends before Redis answers (Redis gone, or close cut short by disconnect), the
 * 'Connection is closed.' rejection would go unhandled. The end is what close waits for anyway.
 */
function handleQuit(connection: Redis): void {
  const quit = connection.quit.bind(connection);
  connection.quit = ((...args: Parameters<Redis['quit']>) => {
    const reply = quit(...args);
    reply.catch(() => undefined);
    return reply;
  }) as Redis['quit'];
}

/** close() for the storage: once, bounded, and quick when Redis is gone. */
function closer(
  parts: { db: Redis; sub: Redis; pub: Redis; mq: MQEmitterRedis },
  health: { stop(): void },
  log: Logger,
): () => Promise<void> {
  const { db, sub, pub, mq } = parts;
  let closed: Promise<void> | undefined;
  return () => {
    closed ??= (async () => {
      // Polite goodbyes only while Redis answers: offline, QUIT would queue behind everything
      // else and wait for Redis to come back. aedes.close() has normally closed mq already
      // (closing it again is a no-op); QUIT lets the last state writes finish first.
      if (sub.status === 'ready' && pub.status === 'ready') {
        await bounded(new Promise<void>((resolve) => mq.close(() => resolve())), CLOSE_GRACE_MS);
      }
      if (db.status === 'ready') await bounded(db.quit(), CLOSE_GRACE_MS);
      health.stop();
      for (const c of [db, sub, pub]) c.disconnect();
      log.debug('broker Redis storage closed');
    })();
    return closed;
  };
}

/**
 * Resolves when every connection is ready; rejects after the timeout or on the first failure,
 * with the error ioredis reported (ECONNREFUSED, WRONGPASS, ENOTFOUND…) rather than the bare
 * 'Connection is closed.' that its connect() rejects with.
 */
async function connectAll(connections: Redis[], timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let reported: Error | undefined;
  const keep = (err: Error) => {
    reported ??= err;
  };
  for (const c of connections) c.on('error', keep);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.all(connections.map((c) => c.connect())), timeout]);
  } catch (err) {
    throw reported ?? err;
  } finally {
    clearTimeout(timer);
    for (const c of connections) c.off('error', keep);
  }
}

/**
 * Logs a lost Redis once per outage (ioredis reports every failed reconnect) and its return.
 * Never throws: ioredis keeps reconnecting on its own.
 */
function watchConnections(connections: Redis[], log: Logger): { stop(): void } {
  let lost = false;
  const onError = (err: Error) => {
    if (lost) return;
    lost = true;
    log.warn(
      { err: err.message },
      'lost the connection to Redis; reconnecting. Until it is back this broker delivers nothing, not ' +
        'even between its own clients (every message goes through Redis): messages wait in its memory and go ' +
        'out when Redis is back, unless this broker stops first. Those that reach Redis before the brokers ' +
        'subscribing to them have reconnected miss their online subscribers (Redis pub/sub keeps nothing); ' +
        'what is queued for offline persistent sessions is kept',
    );
  };
  const onReady = () => {
    if (!lost || !connections.every((c) => c.status === 'ready')) return;
    lost = false;
    log.info('reconnected to Redis; waiting messages are going out');
  };
  for (const c of connections) {
    c.on('error', onError);
    c.on('ready', onReady);
  }
  return {
    stop: () => {
      for (const c of connections) {
        c.off('ready', onReady);
        // An 'error' with no listener would be printed by ioredis; keep a silent one.
        c.off('error', onError);
        c.on('error', () => undefined);
      }
    },
  };
}

/** Waits for `work` at most `ms`; its failure is ignored (close goes on regardless). */
async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

import type { Logger } from 'pino';
import { BrokerConfigError } from './errors.js';
import { openDiskStorage } from './storage-disk.js';
import { openRedisStorage } from './storage-redis.js';

/**
 * Where the embedded broker keeps sessions, subscriptions, retained messages and the QoS 1/2
 * messages queued for offline persistent sessions (docs/broker-storage.md).
 *  - memory: lost when the process ends (aedes's default);
 *  - disk:   aedes-persistence-level (LevelDB) in `dir`: survives restarts and crashes of the
 *            process; a power cut too only with `sync` (every write fsynced);
 *  - redis:  aedes-persistence-redis plus mqemitter-redis, so several brokers sharing one Redis
 *            (and one `prefix`) act as one site broker.
 */
export type BrokerStorageSpec =
  | { kind: 'memory' }
  | {
      kind: 'disk';
      dir: string;
      /**
       * fsync every write before the broker acknowledges it, so a power cut loses nothing
       * acknowledged; much slower (docs/broker-storage.md). Default false: safe against the
       * process crashing, not against the machine losing power.
       */
      sync?: boolean;
    }
  | {
      kind: 'redis';
      /** `redis://[:password@]host[:port][/db]`. */
      url: string;
      /**
       * Namespace of every key (`<prefix>:…`) and pub/sub channel (`<prefix>/<topic>`), default
       * `fieldmesh`: brokers with the same prefix are one site broker; another prefix is another
       * site on the same Redis. Letters, digits, `_ . -` only (channels are matched with Redis
       * glob patterns, and a `/` or `:` would blur the namespace).
       */
      prefix?: string;
    };

/** What aedes is built with; `close()` releases what `openBrokerStorage` opened. */
export interface BrokerStorage {
  readonly kind: BrokerStorageSpec['kind'];
  /** aedes `persistence` option; undefined lets aedes use its in-memory one. */
  readonly persistence: unknown;
  /** aedes `mq` option (the message bus between brokers); undefined for a single broker. */
  readonly mq: unknown;
  /**
   * The aedes `maxTopicLevels` this storage can carry, when it is below aedes's own ceiling
   * (100): pass it on, so aedes refuses deeper topics itself.
   */
  readonly maxTopicLevels?: number;
  /**
   * Closes files and connections; safe to call twice. Call it after aedes.close(), which
   * closes `mq` itself (closing it again here is a no-op).
   */
  close(): Promise<void>;
}

export const DEFAULT_REDIS_PREFIX = 'fieldmesh';
const REDIS_PREFIX = /^[A-Za-z0-9_.-]{1,64}$/;
/** How long start waits for Redis to answer before giving up with RedisUnreachableError. */
const REDIS_CONNECT_TIMEOUT_MS = 5000;

/**
 * Opens the storage `spec` names. Rejects with DiskStorageError (BROKER_STORAGE_DISK_FAILED:
 * directory not creatable, or locked by another broker) or RedisUnreachableError
 * (BROKER_STORAGE_REDIS_UNREACHABLE), having released whatever it had opened.
 */
export async function openBrokerStorage(spec: BrokerStorageSpec, logger: Logger): Promise<BrokerStorage> {
  const log = logger.child({ storage: spec.kind });
  switch (spec.kind) {
    case 'memory':
      return { kind: 'memory', persistence: undefined, mq: undefined, close: async () => {} };
    case 'disk':
      return openDiskStorage({ dir: spec.dir, sync: spec.sync ?? false }, log);
    case 'redis': {
      const prefix = spec.prefix ?? DEFAULT_REDIS_PREFIX;
      if (!REDIS_PREFIX.test(prefix)) {
        throw new BrokerConfigError(
          'storage.prefix',
          `is ${JSON.stringify(prefix)}; use 1 to 64 letters, digits, '_', '.' or '-'`,
        );
      }
      return openRedisStorage({ url: spec.url, prefix, connectTimeoutMs: REDIS_CONNECT_TIMEOUT_MS }, log);
    }
  }
}

import type { Logger } from 'pino';

/**
 * Where the embedded broker keeps sessions, subscriptions, retained messages and the QoS 1/2
 * messages queued for offline persistent sessions.
 *  - memory: lost when the process ends (aedes's default);
 *  - disk:   aedes-persistence-level in `dir`, survives restarts and power cuts;
 *  - redis:  aedes-persistence-redis plus mqemitter-redis, so several brokers sharing one Redis
 *            act as one site broker.
 */
export type BrokerStorageSpec =
  | { kind: 'memory' }
  | { kind: 'disk'; dir: string }
  | { kind: 'redis'; url: string };

/** What aedes is built with; `close()` releases what `openBrokerStorage` opened. */
export interface BrokerStorage {
  readonly kind: BrokerStorageSpec['kind'];
  /** aedes `persistence` option; undefined lets aedes use its in-memory one. */
  readonly persistence: unknown;
  /** aedes `mq` option (the message bus between brokers); undefined for a single broker. */
  readonly mq: unknown;
  /** Closes files and connections; safe to call twice. */
  close(): Promise<void>;
}

export async function openBrokerStorage(spec: BrokerStorageSpec, _logger: Logger): Promise<BrokerStorage> {
  if (spec.kind === 'memory') {
    return { kind: 'memory', persistence: undefined, mq: undefined, close: async () => {} };
  }
  throw new Error(`broker storage ${spec.kind} is not implemented yet`);
}

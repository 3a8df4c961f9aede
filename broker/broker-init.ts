import type { AclDocument } from './acl.js';
import type { BrokerAuthInit } from './auth.js';
import { BrokerConfigError } from './errors.js';
import type { BrokerStorageSpec } from './storage.js';
import type { TlsMaterial } from './tcp-listener.js';

/** A listener besides the main TCP one. */
export interface ExtraListener {
  kind: 'tls' | 'ws' | 'wss';
  host: string;
  port: number;
  /** Certificate and key for tls and wss. */
  tls?: TlsMaterial;
  /** WebSocket path (default /mqtt). */
  path?: string;
}

/** Bounds that keep one bad or slow client from hurting the others. */
export interface BrokerLimits {
  /** Refuse further CONNECTs with CONNACK 3 once this many clients are in. */
  maxClients?: number;
  /** Largest MQTT packet a client may send; a larger one closes its connection. Default 1 MiB. */
  maxPacketBytes?: number;
  /** A connection must complete CONNECT within this time (default 10 s). */
  connectTimeoutMs?: number;
  /** New TCP connections per second from one address (default 20) ... */
  connectionsPerSecond?: number;
  /** ... with bursts up to this many (default 50). Past it, connections are closed at once. */
  connectionBurst?: number;
  /** A subscriber whose socket has not drained for this long is disconnected (default 30 s). */
  drainTimeoutMs?: number;
  /** Unsent bytes a subscriber may have queued before QoS 0 messages to it are dropped (default 256 KiB). */
  qos0BacklogBytes?: number;
  /**
   * Unsent bytes past which a subscriber is disconnected (default 1 MiB): a consumer that stopped
   * reading would otherwise hold up delivery to everyone until drainTimeoutMs. A persistent
   * session keeps its undelivered QoS 1 messages for when it is back.
   */
  slowConsumerBytes?: number;
}

export interface EmbeddedBrokerInit {
  /** Address of the main (plain TCP) listener: 127.0.0.1 for this host only, 0.0.0.0 for the LAN. */
  host: string;
  /** TCP port; 0 lets the OS pick a free one (read it back with address()). */
  port: number;
  /** TLS and WebSocket listeners, served by the same broker. */
  listeners?: readonly ExtraListener[];
  /** Who may connect. Required: anonymous access must be asked for (`allowAnonymous: true`). */
  auth: BrokerAuthInit;
  /** Topic rules; absent means every authenticated client may use every topic (acl.ts OPEN_ACL). */
  acl?: AclDocument;
  /** Mesh topic root, whose node topics belong to their node (default fieldmesh/v1/). */
  topicRoot?: string;
  limits?: BrokerLimits;
  /** How long stop() waits for clients to go before destroying their sockets (default 1000 ms). */
  closeGraceMs?: number;
  /** Sessions, retained and queued messages: memory (default), disk, or a shared Redis. */
  storage?: BrokerStorageSpec;
}

export type ResolvedLimits = Required<Omit<BrokerLimits, 'maxClients'>> & { maxClients: number | undefined };

export const DEFAULT_LIMITS: Omit<ResolvedLimits, 'maxClients'> = {
  maxPacketBytes: 1024 * 1024,
  connectTimeoutMs: 10_000,
  connectionsPerSecond: 20,
  connectionBurst: 50,
  drainTimeoutMs: 30_000,
  qos0BacklogBytes: 256 * 1024,
  slowConsumerBytes: 1024 * 1024,
};

/** Checks every setting and fills in defaults; throws BrokerConfigError (BROKER_CONFIG_INVALID). */
export function resolveLimits(init: EmbeddedBrokerInit): ResolvedLimits {
  checkPort('port', init.port);
  init.listeners?.forEach((l, i) => {
    checkPort(`listeners[${i}].port`, l.port);
    if ((l.kind === 'tls' || l.kind === 'wss') && l.tls === undefined) {
      throw new BrokerConfigError(`listeners[${i}]`, `is ${l.kind} but has no certificate and key`);
    }
  });
  if (init.closeGraceMs !== undefined && (!Number.isFinite(init.closeGraceMs) || init.closeGraceMs < 0)) {
    throw new BrokerConfigError(
      'closeGraceMs',
      `is ${init.closeGraceMs}; use a non-negative number of milliseconds`,
    );
  }
  const given = init.limits ?? {};
  const maxClients = given.maxClients;
  if (maxClients !== undefined && (!Number.isInteger(maxClients) || maxClients < 1)) {
    throw new BrokerConfigError(
      'limits.maxClients',
      `is ${maxClients}; use a positive integer or leave it out`,
    );
  }
  const resolved: ResolvedLimits = { ...DEFAULT_LIMITS, maxClients };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof typeof DEFAULT_LIMITS)[]) {
    const value = given[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value <= 0) {
      throw new BrokerConfigError(`limits.${key}`, `is ${value}; use a positive number or leave it out`);
    }
    resolved[key] = value;
  }
  if (resolved.qos0BacklogBytes >= resolved.slowConsumerBytes) {
    throw new BrokerConfigError(
      'limits.qos0BacklogBytes',
      `(${resolved.qos0BacklogBytes}) must be below limits.slowConsumerBytes (${resolved.slowConsumerBytes})`,
    );
  }
  if (resolved.maxPacketBytes > 268_435_455) {
    throw new BrokerConfigError('limits.maxPacketBytes', 'exceeds the MQTT maximum of 268,435,455 bytes');
  }
  return resolved;
}

function checkPort(field: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new BrokerConfigError(field, `is ${port}; use an integer from 0 (any free port) to 65535`);
  }
}

import type { Logger } from 'pino';
import type { BackoffPolicy } from '../../protocol/backoff.js';
import type { OverflowPolicy } from './store.js';
import type { BridgeTopicRule } from './topic-rules.js';

export type { OverflowPolicy } from './store.js';
export type { BridgeTopicRule } from './topic-rules.js';

export interface BridgeLocalInit {
  /** The local (site or embedded) broker, mqtt://host:port. */
  url: string;
  /** Fixed, so the local broker keeps the bridge's session and queues for it while it is away. */
  clientId: string;
  username?: string;
  password?: string;
  /** Called for every connection attempt; replaces username and password (a node login token). */
  credentials?: () => { username: string; password: string };
}

export interface BridgeUpstreamInit {
  /** The plant or cloud broker: mqtt://host:port or mqtts://host:port. */
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** PEM file of the CA(s) that signed the upstream's certificate (mqtts://); system CAs if absent. */
  caFile?: string;
  /** PEM client certificate and key, when the upstream wants mutual TLS. */
  certFile?: string;
  keyFile?: string;
}

export interface BridgeStoreSettings {
  /** Directory of the segment files and the cursor (created if missing). */
  dir: string;
  /** Disk budget of the segment files, bytes (≥ 16 KiB). */
  maxBytes: number;
  /** What gives when the budget is full (default 'drop-oldest'). */
  overflow?: OverflowPolicy;
  /** How often the acknowledged position is written to disk at most (default 1000 ms). */
  cursorWriteMs?: number;
}

export interface BridgeInit {
  local: BridgeLocalInit;
  upstream: BridgeUpstreamInit;
  /** Which local topics go upstream, under which name; filters must not overlap. */
  topics: readonly BridgeTopicRule[];
  store: BridgeStoreSettings;
  /** Most records awaiting the upstream's PUBACK (default 32). */
  inflight?: number;
  /** Reconnect backoff for both sides (default 500 ms … 30 s, full jitter). */
  reconnect?: BackoffPolicy;
  keepaliveS?: number;
  connectTimeoutMs?: number;
}

export interface BridgeComponents {
  logger: Logger;
}

export interface BridgeCounters {
  /** Messages delivered by the local broker. */
  received: number;
  /** Of those, durably stored (and then acknowledged to the local broker). */
  stored: number;
  /** Records acknowledged by the upstream broker. */
  forwarded: number;
  /** Records sent upstream again after a reconnect (at least once). */
  resent: number;
  /** Undelivered records deleted to make room ('drop-oldest'). */
  droppedOldest: number;
  /** Messages refused because the budget was full ('drop-newest'). */
  droppedNewest: number;
  /** Messages larger than a segment, refused. */
  tooLarge: number;
  /** Messages on a topic no rule maps (the local broker sent what was not asked for). */
  unrouted: number;
  /** Records the upstream client refused outright; skipped. */
  refusedUpstream: number;
  /** Store writes that failed (each one drops the local connection so the broker resends). */
  storeFailures: number;
  localConnects: number;
  upstreamConnects: number;
}

export interface BridgeSideStatus {
  url: string;
  connected: boolean;
  /** Why the last connection or attempt failed, if it did. */
  lastError: string | null;
}

export interface BridgeStatus {
  running: boolean;
  local: BridgeSideStatus;
  upstream: BridgeSideStatus;
  store: {
    dir: string;
    bytes: number;
    budgetBytes: number;
    overflow: OverflowPolicy;
    /** Stored records not yet acknowledged upstream. */
    backlog: number;
  };
}

/** Forwards selected local topics to an upstream broker, storing them on disk while it is away. */
export interface Bridge {
  /**
   * Reads the TLS files, opens (and recovers) the store, then connects both sides in the
   * background. Rejects with BridgeConfigError (a TLS file) or BridgeStoreError (the store).
   */
  start(): Promise<void>;
  /** Disconnects both sides, finishes the write in progress, writes the cursor. Never rejects. */
  stop(): Promise<void>;
  counters(): BridgeCounters;
  status(): BridgeStatus;
}

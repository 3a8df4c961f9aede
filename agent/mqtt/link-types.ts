import { type BackoffPolicy, backoffPolicyProblem, type RandomSource } from '../../protocol/backoff.js';
import type { Logger } from '../log.js';
import { MqttConfigError } from './errors.js';
import type { ProtocolVersion, ProtocolVersionSetting } from './protocol-version.js';
import type { MessageHandler } from './subscriptions.js';
import type { MqttTlsInit } from './tls-settings.js';
import type { MqttTransport } from './transport.js';

/** The link's public contract: settings, collaborators, events, counters and the link itself. */

export interface LinkMessage {
  topic: string;
  payload: Uint8Array | string;
  qos: 0 | 1;
  retain: boolean;
}

export interface MqttLinkInit {
  /** mqtt://host:port or mqtts://host:port (credentials in the URL are used when none are set below). */
  url: string;
  /** Must not be empty: the persistent session is keyed by it [MQTT-3.1.3-8]. */
  clientId: string;
  username?: string;
  password?: string;
  /**
   * Called before every connection attempt; what it returns replaces username and password.
   * For credentials that expire, such as a node's signed login token (protocol/broker-token.ts).
   */
  credentials?: (() => { username: string; password: string }) | undefined;
  keepaliveS: number;
  /** 4 = MQTT 3.1.1, 5 = MQTT 5; 'auto' offers 5 and falls back to 3.1.1 (see protocol-version.ts). */
  protocolVersion: ProtocolVersionSetting;
  /** For mqtts:// only: CA, client certificate and verification; files are read at creation. */
  tls?: MqttTlsInit | undefined;
  /** Reconnect delays: exponential from minMs to maxMs with full jitter (see backoff.ts). */
  reconnect: BackoffPolicy;
  /** How long start() keeps trying before it rejects with MQTT_CONNECT_FAILED. */
  connectTimeoutMs: number;
  /** Published by the broker if this link vanishes without a DISCONNECT. */
  will?: LinkMessage;
  /** Published on every (re)connect, after the subscriptions are back (e.g. the retained online record). */
  onlineMessage?: LinkMessage;
  /** Most QoS 1 publishes awaiting PUBACK (sent or queued while offline); more are refused. Default 10,000. */
  maxPendingQos1?: number;
  /** How long stop() waits for in-flight QoS 1 acknowledgements before closing anyway. Default 2000 ms. */
  stopFlushMs?: number;
}

export interface MqttLinkComponents {
  logger: Logger;
  /** Opens the socket; defaults to TCP/TLS with TCP_NODELAY (dialBroker). */
  transport?: MqttTransport;
  /** Jitter source for reconnect delays; defaults to Math.random. */
  random?: RandomSource;
}

export interface MqttLinkEvents {
  /** CONNACK accepted and subscriptions in place. */
  connected: { sessionPresent: boolean };
  disconnected: { reason: string };
  /** A reconnect is scheduled `delayMs` from now; `attempt` counts from 1 since the last connection. */
  reconnecting: { attempt: number; delayMs: number };
}

export interface MqttLinkCounters {
  /** Successful connections after the first. */
  reconnects: number;
  /** PUBLISH packets handed to the broker connection (QoS 0 sent, QoS 1 sent or queued). */
  publishes: number;
  /** QoS 0 messages dropped because the link was offline. */
  droppedQos0Offline: number;
  /** QoS 0 messages dropped because the socket already held too much unsent data. */
  droppedQos0Backlog: number;
  /** QoS 1 publishes awaiting PUBACK now. */
  pendingQos1: number;
  /** Messages received from the broker. */
  received: number;
  /** Messages received that no current subscription matches (left over from an older session). */
  unmatched: number;
}

/** The agent's one connection to its MQTT broker: persistent session, reconnects forever once started. */
export interface MqttLink {
  readonly url: string;
  /** True between 'connected' and 'disconnected'. */
  readonly connected: boolean;
  /** The MQTT version the broker accepted (4 = 3.1.1, 5), or null before the first connection. */
  readonly protocolVersion: ProtocolVersion | null;
  /** Resolves once first connected; rejects with MqttConnectError (MQTT_CONNECT_FAILED). */
  start(): Promise<void>;
  /**
   * Moves the link to another broker of the same scheme (the site broker moved): the current
   * connection is cut and the next one dials `url`. Subscriptions are made again there; QoS 1
   * publishes not yet acknowledged are sent again. Throws MqttConfigError for an unusable URL.
   */
  retarget(url: string): void;
  /** Waits (bounded) for in-flight QoS 1, sends DISCONNECT (so no will), closes; never hangs. */
  stop(): Promise<void>;
  subscribe(filter: string, qos: 0 | 1, handler: MessageHandler): Promise<void>;
  unsubscribe(filter: string): Promise<void>;
  /** QoS 1 resolves on PUBACK (queued while offline); QoS 0 resolves at once, dropped and counted when offline. */
  publish(topic: string, payload: Uint8Array | string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void>;
  /** QoS 0, not retained, no promise: for results at tens of thousands per second. Dropped and counted when offline. */
  publishFast(topic: string, payload: Uint8Array | string): void;
  counters(): MqttLinkCounters;
  on<E extends keyof MqttLinkEvents>(event: E, listener: (info: MqttLinkEvents[E]) => void): this;
  once<E extends keyof MqttLinkEvents>(event: E, listener: (info: MqttLinkEvents[E]) => void): this;
  off<E extends keyof MqttLinkEvents>(event: E, listener: (info: MqttLinkEvents[E]) => void): this;
}

/** Throws MqttConfigError (MQTT_CONFIG_INVALID) for a setting the link can never work with. */
export function validateLinkInit(init: MqttLinkInit): void {
  if (init.clientId === '') {
    throw new MqttConfigError('clientId', 'is empty; a persistent session needs a client id [MQTT-3.1.3-8]');
  }
  const version: unknown = init.protocolVersion;
  if (version !== 4 && version !== 5 && version !== 'auto') {
    throw new MqttConfigError(
      'protocolVersion',
      `is ${JSON.stringify(version)}; use 4 (MQTT 3.1.1), 5 or 'auto'`,
    );
  }
  if (!Number.isInteger(init.keepaliveS) || init.keepaliveS < 0 || init.keepaliveS > 65_535) {
    throw new MqttConfigError('keepaliveS', `is ${init.keepaliveS}; use whole seconds from 0 to 65535`);
  }
  if (!Number.isFinite(init.connectTimeoutMs) || init.connectTimeoutMs <= 0) {
    throw new MqttConfigError(
      'connectTimeoutMs',
      `is ${init.connectTimeoutMs}; use a positive number of milliseconds`,
    );
  }
  const backoff = backoffPolicyProblem(init.reconnect);
  if (backoff !== null) throw new MqttConfigError('reconnect', backoff);
  if (init.tls !== undefined && !/^(mqtts|ssl):/i.test(init.url)) {
    throw new MqttConfigError(
      'tls',
      'is set but mqtt.url is not a TLS URL: use mqtts://host:8883 (or remove mqtt.tls)',
    );
  }
  const max = init.maxPendingQos1;
  // mqtt.js has 65,535 packet ids; past them it queues without bound, which this limit prevents.
  if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 65_000)) {
    throw new MqttConfigError('maxPendingQos1', `is ${max}; use a whole number from 1 to 65000`);
  }
}

import type net from 'node:net';
import { type IConnackPacket, MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import { type RandomSource, reconnectDelayMs } from './backoff.js';
import { MqttConnectError, MqttLinkStoppedError, MqttPublishError, MqttQueueFullError } from './errors.js';
import { describeConnackRefusal, describeConnectFailure, isConnackRefusal } from './explain.js';
import {
  type MqttLink,
  type MqttLinkComponents,
  type MqttLinkCounters,
  type MqttLinkEvents,
  type MqttLinkInit,
  validateLinkInit,
} from './link-types.js';
import { asBuffer, clientOptions, endWithin } from './mqttjs.js';
import { SafeEmitter } from './safe-emitter.js';
import { SubscriptionKeeper } from './subscription-keeper.js';
import type { MessageHandler } from './subscriptions.js';
import { type BrokerTarget, dialBroker, type MqttTransport, parseBrokerUrl } from './transport.js';

export type {
  LinkMessage,
  MqttLink,
  MqttLinkComponents,
  MqttLinkCounters,
  MqttLinkEvents,
  MqttLinkInit,
} from './link-types.js';
export type { MessageHandler } from './subscriptions.js';

/**
 * The agent's MQTT connection over mqtt.js: a persistent session, its own reconnect loop with
 * jittered backoff, re-subscription when the broker lost the session, and publishing that never
 * throws once started. Throws MqttConfigError for unusable settings. See MqttLink for the contract.
 */
export function createMqttLink(init: MqttLinkInit, components: MqttLinkComponents): MqttLink {
  return new Link(init, components);
}

const DEFAULT_MAX_PENDING_QOS1 = 10_000;
const DEFAULT_STOP_FLUSH_MS = 2000;
/** Unsent bytes beyond which QoS 0 is dropped rather than buffered without bound. */
const MAX_QOS0_BACKLOG_BYTES = 4 * 1024 * 1024;

type State = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

class Link implements MqttLink {
  readonly url: string;
  private readonly target: BrokerTarget;
  private readonly log: Logger;
  private readonly transport: MqttTransport;
  private readonly random: RandomSource;
  private readonly events: SafeEmitter<MqttLinkEvents>;
  private readonly keeper: SubscriptionKeeper;
  private readonly pendingQos1 = new Set<(err: Error) => void>();
  private readonly count = { reconnects: 0, publishes: 0, droppedQos0Offline: 0, droppedQos0Backlog: 0 };
  private readonly inbound = { received: 0, unmatched: 0 };
  private state: State = 'idle';
  private client: MqttClient | null = null;
  private socket: net.Socket | null = null;
  private up = false;
  private everConnected = false;
  /** Bumped per connection, so work for a connection that has since dropped can tell. */
  private generation = 0;
  private attempt = 0;
  private lastError: unknown;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private starting: {
    promise: Promise<void>;
    reject: (err: Error) => void;
    deadline: NodeJS.Timeout;
  } | null = null;
  private resolveStart: (() => void) | null = null;
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly init: MqttLinkInit,
    components: MqttLinkComponents,
  ) {
    this.target = parseBrokerUrl(init.url);
    validateLinkInit(init);
    this.url = this.target.displayUrl;
    this.log = components.logger;
    this.transport = components.transport ?? dialBroker;
    this.random = components.random ?? Math.random;
    this.events = new SafeEmitter(this.log);
    this.keeper = new SubscriptionKeeper({ client: () => this.client, isUp: () => this.up }, this.log);
  }

  get connected(): boolean {
    return this.up;
  }

  on<E extends keyof MqttLinkEvents>(event: E, listener: (info: MqttLinkEvents[E]) => void): this {
    this.events.on(event, listener);
    return this;
  }

  once<E extends keyof MqttLinkEvents>(event: E, listener: (info: MqttLinkEvents[E]) => void): this {
    this.events.once(event, listener);
    return this;
  }

  off<E extends keyof MqttLinkEvents>(event: E, listener: (info: MqttLinkEvents[E]) => void): this {
    this.events.off(event, listener);
    return this;
  }

  counters(): MqttLinkCounters {
    return { ...this.count, pendingQos1: this.pendingQos1.size, ...this.inbound };
  }

  start(): Promise<void> {
    if (this.state === 'running') return Promise.resolve();
    if (this.starting !== null) return this.starting.promise;
    if (this.state !== 'idle') return Promise.reject(new MqttLinkStoppedError('start'));
    this.state = 'starting';
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      this.resolveStart = res;
      reject = rej;
    });
    const deadline = setTimeout(() => this.failStart(undefined), this.init.connectTimeoutMs);
    this.starting = { promise, reject, deadline };
    this.client = this.createClient();
    this.client.connect();
    return promise;
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  subscribe(filter: string, qos: 0 | 1, handler: MessageHandler): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') {
      return Promise.reject(new MqttLinkStoppedError(`subscribe to ${filter}`));
    }
    return this.keeper.subscribe(filter, qos, handler);
  }

  unsubscribe(filter: string): Promise<void> {
    return this.keeper.unsubscribe(filter);
  }

  publish(
    topic: string,
    payload: Uint8Array | string,
    opts: { qos: 0 | 1; retain?: boolean },
  ): Promise<void> {
    const client = this.client;
    if (client === null || this.state === 'stopping' || this.state === 'stopped') {
      return Promise.reject(new MqttLinkStoppedError(`publish to ${topic}`));
    }
    const retain = opts.retain ?? false;
    if (opts.qos === 0) {
      if (this.canSendQos0()) {
        client.publish(topic, asBuffer(payload), { qos: 0, retain });
        this.count.publishes++;
      }
      return Promise.resolve();
    }
    const limit = this.init.maxPendingQos1 ?? DEFAULT_MAX_PENDING_QOS1;
    if (this.pendingQos1.size >= limit) return Promise.reject(new MqttQueueFullError(topic, limit));
    return new Promise<void>((resolve, reject) => {
      this.pendingQos1.add(reject);
      // Offline, mqtt.js keeps the packet in its outgoing store and sends it after the next
      // CONNACK; scheduleReconnect hands the same store back, so nothing is lost.
      client.publish(topic, asBuffer(payload), { qos: 1, retain }, (err) => {
        if (!this.pendingQos1.delete(reject)) return; // stop() already failed it
        if (err) reject(new MqttPublishError(topic, err));
        else resolve();
      });
      this.count.publishes++;
    });
  }

  publishFast(topic: string, payload: Uint8Array | string): void {
    const client = this.client;
    if (client !== null && this.state !== 'stopping' && this.canSendQos0()) {
      client.publish(topic, asBuffer(payload));
      this.count.publishes++;
    }
  }

  /**
   * QoS 0 goes out only on a ready connection whose socket keeps up; otherwise it is counted as
   * dropped. Ready means after 'connected': while mqtt.js re-sends its stored QoS 1 after a
   * CONNACK it holds every other publish in an unbounded in-memory queue.
   */
  private canSendQos0(): boolean {
    if (!this.up) {
      this.count.droppedQos0Offline++;
      return false;
    }
    if (this.socket !== null && this.socket.writableLength > MAX_QOS0_BACKLOG_BYTES) {
      this.count.droppedQos0Backlog++;
      return false;
    }
    return true;
  }

  private createClient(): MqttClient {
    const target = this.target;
    const client = new MqttClient(
      () => {
        this.socket = this.transport(target);
        return this.socket;
      },
      clientOptions(this.init, target),
    );
    client.on('connect', (connack) => void this.onConnect(connack));
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.onError(err));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    return client;
  }

  private async onConnect(connack: IConnackPacket): Promise<void> {
    const sessionPresent = connack.sessionPresent === true;
    const generation = ++this.generation;
    this.up = true;
    this.lastError = undefined;
    this.attempt = 0;
    if (this.everConnected) this.count.reconnects++;
    await this.keeper.restore(sessionPresent).catch((err: unknown) => {
      this.log.warn({ err: messageOf(err) }, 'subscriptions not restored; retrying on the next connection');
    });
    if (generation !== this.generation || !this.up) return; // dropped again meanwhile
    const online = this.init.onlineMessage;
    if (online !== undefined) {
      this.publish(online.topic, online.payload, { qos: online.qos, retain: online.retain }).catch(
        (err: unknown) =>
          this.log.warn({ topic: online.topic, err: messageOf(err) }, 'online message not delivered'),
      );
    }
    this.log[this.everConnected ? 'info' : 'debug'](
      { url: this.url, sessionPresent },
      'connected to the broker',
    );
    this.everConnected = true;
    this.events.emit('connected', { sessionPresent });
    if (this.starting !== null) {
      clearTimeout(this.starting.deadline);
      this.starting = null;
      this.state = 'running';
      this.resolveStart?.();
    }
  }

  private onMessage(topic: string, payload: Uint8Array): void {
    this.inbound.received++;
    const ran = this.keeper.dispatch(topic, payload, (err, filter) =>
      this.log.warn({ filter, topic, err: messageOf(err) }, 'message handler threw'),
    );
    if (ran === 0) this.inbound.unmatched++;
  }

  private onError(err: Error): void {
    this.lastError = err;
    const code = (err as { code?: unknown }).code;
    const refusal = typeof code === 'number' && isConnackRefusal(code);
    // During start-up a refusal is final: retrying only delays the same answer.
    if (refusal && this.starting !== null) this.failStart(err);
    else if (refusal) this.log.warn({ url: this.url, code }, describeConnackRefusal(code));
    else this.log.debug({ url: this.url, err: err.message }, 'connection error');
  }

  private onClose(): void {
    this.socket = null;
    if (this.up) {
      this.up = false;
      const stopping = this.state === 'stopping';
      const reason = stopping
        ? 'link stopped'
        : describeConnectFailure(this.lastError ?? new Error('connection closed'), this.url);
      if (!stopping) this.log.warn({ url: this.url, reason }, 'disconnected from the broker');
      this.events.emit('disconnected', { reason });
    }
    if (this.state === 'starting' || this.state === 'running') this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer !== null) return;
    this.attempt++;
    const delayMs = reconnectDelayMs(this.attempt, this.init.reconnect, this.random);
    this.log.debug({ attempt: this.attempt, delayMs }, 'reconnecting');
    this.events.emit('reconnecting', { attempt: this.attempt, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      const client = this.client;
      if (client === null || (this.state !== 'starting' && this.state !== 'running')) return;
      // Without stores, mqtt.js's reconnect() starts empty ones and loses queued QoS 1.
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
    }, delayMs);
  }

  private failStart(err: unknown): void {
    const starting = this.starting;
    if (starting === null) return;
    this.starting = null;
    clearTimeout(starting.deadline);
    const cause = err ?? this.lastError;
    const code = (cause as { code?: unknown } | undefined)?.code;
    const gaveUp = err === undefined ? ` (gave up after ${this.init.connectTimeoutMs} ms)` : '';
    starting.reject(
      new MqttConnectError(this.url, describeConnectFailure(cause, this.url) + gaveUp, {
        cause,
        ...(typeof code === 'number' ? { returnCode: code } : {}),
      }),
    );
    this.stopping = this.shutdown().finally(() => {
      // A failed start leaves the link as new: start() may be called again.
      this.state = 'idle';
      this.stopping = null;
      this.client = null;
    });
  }

  private async shutdown(): Promise<void> {
    if (this.state === 'idle' || this.state === 'stopped') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.starting !== null) {
      clearTimeout(this.starting.deadline);
      this.starting.reject(new MqttLinkStoppedError('start (stopped while connecting)'));
      this.starting = null;
    }
    const client = this.client;
    if (client !== null) await this.endClient(client);
    const stopped = new MqttLinkStoppedError('publish');
    for (const reject of this.pendingQos1) reject(stopped);
    this.pendingQos1.clear();
    this.up = false;
    this.state = 'stopped';
  }

  /** Ends the client, giving in-flight QoS 1 up to stopFlushMs; then the socket is cut. */
  private async endClient(client: MqttClient): Promise<void> {
    const flushMs = this.init.stopFlushMs ?? DEFAULT_STOP_FLUSH_MS;
    if (await endWithin(client, flushMs)) return;
    this.log.warn(
      { pendingQos1: this.pendingQos1.size, flushMs },
      'broker did not acknowledge in time; closing anyway',
    );
    this.socket?.destroy();
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

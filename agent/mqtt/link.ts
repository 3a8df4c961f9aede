import type net from 'node:net';
import { type IConnackPacket, MqttClient } from 'mqtt';
import { type RandomSource, reconnectDelayMs } from '../../protocol/backoff.js';
import type { Logger } from '../log.js';
import { brokerTarget, Dialer } from './dialer.js';
import { MqttConfigError, MqttConnectError, MqttLinkStoppedError } from './errors.js';
import {
  describeConnackRefusal,
  describeConnectFailure,
  isConnackRefusal,
  nodeLoginHint,
} from './explain.js';
import { isCertificateRejection } from './explain-tls.js';
import type {
  MqttLink,
  MqttLinkComponents,
  MqttLinkCounters,
  MqttLinkEvents,
  MqttLinkInit,
} from './link-types.js';
import { clientOptions, endWithin, useProtocolVersion } from './mqttjs.js';
import { PendingStart } from './pending-start.js';
import type { ProtocolVersion } from './protocol-version.js';
import { Publisher } from './publisher.js';
import { SafeEmitter } from './safe-emitter.js';
import { SubscriptionKeeper } from './subscription-keeper.js';
import type { MessageHandler } from './subscriptions.js';
import { type BrokerTarget, dialBroker, parseBrokerUrl } from './transport.js';

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

const DEFAULT_STOP_FLUSH_MS = 2000;

type State = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

class Link implements MqttLink {
  private currentUrl: string;
  private readonly target: BrokerTarget;
  private readonly log: Logger;
  private readonly random: RandomSource;
  private readonly events: SafeEmitter<MqttLinkEvents>;
  private readonly keeper: SubscriptionKeeper;
  private readonly dialer: Dialer;
  private readonly publisher: Publisher;
  private readonly tally = { reconnects: 0, received: 0, unmatched: 0 };
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
  private starting: PendingStart | null = null;
  private stopping: Promise<void> | null = null;
  /** Set by retarget(): the close that follows redials at once. */
  private retargeting = false;

  constructor(
    private readonly init: MqttLinkInit,
    components: MqttLinkComponents,
  ) {
    this.log = components.logger;
    this.target = brokerTarget(init, this.log);
    this.currentUrl = this.target.displayUrl;
    const transport = components.transport ?? dialBroker;
    this.dialer = new Dialer(this.target, transport, init.protocolVersion, this.log);
    this.random = components.random ?? Math.random;
    this.events = new SafeEmitter(this.log);
    const host = { client: () => this.client, isUp: () => this.up, socket: () => this.socket };
    this.keeper = new SubscriptionKeeper(host, this.log);
    this.publisher = new Publisher(host, init.maxPendingQos1);
  }

  get connected(): boolean {
    return this.up;
  }

  get url(): string {
    return this.currentUrl;
  }

  retarget(url: string): void {
    const next = parseBrokerUrl(url);
    const t = this.target;
    if (next.protocol === t.protocol && next.host === t.host && next.port === t.port) return;
    if (next.protocol !== t.protocol) {
      throw new MqttConfigError(
        'url',
        `${next.displayUrl}: a link cannot move from ${t.protocol} to ${next.protocol}`,
      );
    }
    this.log.info({ from: t.displayUrl, to: next.displayUrl }, 'moving to another broker');
    Object.assign(t, { host: next.host, port: next.port, displayUrl: next.displayUrl });
    this.currentUrl = next.displayUrl;
    this.attempt = 0;
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.redial(0);
    } else {
      // The close handler dials again, now to the new target; the session starts there anew
      // and the subscription keeper subscribes again.
      this.retargeting = true;
      this.socket?.destroy();
    }
  }

  get protocolVersion(): ProtocolVersion | null {
    return this.dialer.settledVersion;
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
    return { ...this.publisher.count, pendingQos1: this.publisher.pendingQos1, ...this.tally };
  }

  start(): Promise<void> {
    if (this.state === 'running') return Promise.resolve();
    if (this.starting !== null) return this.starting.promise;
    if (this.state !== 'idle') return Promise.reject(new MqttLinkStoppedError('start'));
    this.state = 'starting';
    const starting = new PendingStart(this.init.connectTimeoutMs, () => this.failStart(undefined));
    this.starting = starting;
    this.client = this.createClient();
    this.client.connect();
    return starting.promise;
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
    return this.publisher.publish(client, topic, payload, opts);
  }

  publishFast(topic: string, payload: Uint8Array | string): void {
    const client = this.client;
    if (client !== null && this.state !== 'stopping') this.publisher.publishFast(client, topic, payload);
  }

  private createClient(): MqttClient {
    const target = this.target;
    const client = new MqttClient(
      (c) => {
        const fresh = this.init.credentials?.();
        if (fresh !== undefined) {
          // mqtt.js builds the CONNECT from its options right after opening the stream.
          c.options.username = fresh.username;
          c.options.password = fresh.password;
        }
        this.socket = this.dialer.open();
        return this.socket;
      },
      clientOptions(this.init, target, this.dialer.nextVersion),
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
    this.dialer.accepted();
    this.up = true;
    this.lastError = undefined;
    this.attempt = 0;
    if (this.everConnected) this.tally.reconnects++;
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
      { url: this.url, sessionPresent, protocolVersion: this.dialer.nextVersion },
      'connected to the broker',
    );
    this.everConnected = true;
    this.events.emit('connected', { sessionPresent });
    if (this.starting !== null) {
      this.starting.resolve();
      this.starting = null;
      this.state = 'running';
    }
  }

  private onMessage(topic: string, payload: Uint8Array): void {
    this.tally.received++;
    const ran = this.keeper.dispatch(topic, payload, (err, filter) =>
      this.log.warn({ filter, topic, err: messageOf(err) }, 'message handler threw'),
    );
    if (ran === 0) this.tally.unmatched++;
  }

  private onError(err: Error): void {
    const code = (err as { code?: unknown }).code;
    const refusal = typeof code === 'number' && isConnackRefusal(code);
    if (refusal && this.dialer.refused(code)) return; // not an error: the next attempt speaks 3.1.1
    this.lastError = err;
    // During start-up a refusal or a rejected certificate is final: retrying only delays the same answer.
    if ((refusal || isCertificateRejection(code)) && this.starting !== null) this.failStart(err);
    else if (refusal)
      this.log.warn({ url: this.url, code }, describeConnackRefusal(code) + this.loginHint(code));
    else this.log.debug({ url: this.url, err: err.message }, 'connection error');
  }

  /** For node-key logins, what a login refusal means instead of the username/password hint. */
  private loginHint(code: unknown): string {
    if (this.init.credentials === undefined) return '';
    return nodeLoginHint(code, this.init.credentials().username);
  }

  private onClose(): void {
    this.socket = null;
    const wasUp = this.up;
    if (this.up) {
      this.up = false;
      const stopping = this.state === 'stopping';
      const reason = stopping
        ? 'link stopped'
        : describeConnectFailure(
            this.lastError ?? new Error('connection closed'),
            this.url,
            this.dialer.tlsContext,
          );
      if (!stopping) this.log.warn({ url: this.url, reason }, 'disconnected from the broker');
      this.events.emit('disconnected', { reason });
    }
    if (this.state !== 'starting' && this.state !== 'running') return;
    if (this.retargeting) {
      this.retargeting = false;
      this.redial(0);
    } else if (!wasUp && this.client !== null && this.dialer.closedUnaccepted()) {
      this.lastError = undefined;
      useProtocolVersion(this.client, this.dialer.nextVersion);
      this.redial(0);
    } else {
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer !== null) return;
    this.attempt++;
    const delayMs = reconnectDelayMs(this.attempt, this.init.reconnect, this.random);
    this.log.debug({ attempt: this.attempt, delayMs }, 'reconnecting');
    this.events.emit('reconnecting', { attempt: this.attempt, delayMs });
    this.redial(delayMs);
  }

  /** Reconnects after `delayMs`, keeping mqtt.js's message stores. */
  private redial(delayMs: number): void {
    if (this.reconnectTimer !== null) return;
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
    const cause = err ?? this.lastError;
    const code = (cause as { code?: unknown } | undefined)?.code;
    const gaveUp = err === undefined ? ` (gave up after ${this.init.connectTimeoutMs} ms)` : '';
    starting.reject(
      new MqttConnectError(
        this.url,
        describeConnectFailure(cause, this.url, this.dialer.tlsContext) + this.loginHint(code) + gaveUp,
        {
          cause,
          ...(typeof code === 'number' ? { returnCode: code } : {}),
        },
      ),
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
    this.starting?.reject(new MqttLinkStoppedError('start (stopped while connecting)'));
    this.starting = null;
    const client = this.client;
    if (client !== null) await this.endClient(client);
    this.publisher.failPending(new MqttLinkStoppedError('publish'));
    this.up = false;
    this.state = 'stopped';
  }

  /** Ends the client, giving in-flight QoS 1 up to stopFlushMs; then the socket is cut. */
  private async endClient(client: MqttClient): Promise<void> {
    const flushMs = this.init.stopFlushMs ?? DEFAULT_STOP_FLUSH_MS;
    if (await endWithin(client, flushMs)) return;
    this.log.warn(
      { pendingQos1: this.publisher.pendingQos1, flushMs },
      'broker did not acknowledge in time; closing anyway',
    );
    this.socket?.destroy();
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

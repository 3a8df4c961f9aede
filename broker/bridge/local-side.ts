import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BridgeStore } from './store.js';
import type { BridgeTopicRule, Route } from './topic-rules.js';

/**
 * The local half: a persistent-session subscriber that PUBACKs a QoS 1 message only once its
 * record is durable in the store. That is the first link of the at-least-once chain: a message
 * the bridge had not stored when it died (or when a write failed) is still unacknowledged at
 * the local broker, which sends it again on the next connection [MQTT-4.4.0-1].
 *
 * mqtt.js (5.x, build/lib/handlers/publish.js) sends the PUBACK of an incoming QoS 1 message
 * when `handleMessage`'s callback is called without an error, and does not parse the next
 * packet before that. Waiting there would allow one fsync per message. Instead the callback is
 * called at once with an error, which makes mqtt.js skip its PUBACK and go on to the next
 * packet, and the PUBACK is sent here once the record is stored (`customHandleAcks`, the
 * documented way, is honoured by mqtt.js for MQTT 5 only). PUBACKs leave in the order the
 * messages came [MQTT-4.6.0-2], because appends complete in order.
 */

/** mqtt.js's internal packet writer; the one private member the bridge relies on. */
interface PacketWriter {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb: () => void): void;
}

/** Tells mqtt.js not to send its own PUBACK (see above). */
const ACK_DEFERRED = new Error('PUBACK deferred until the message is stored');

export interface LocalSideParts {
  rules: readonly BridgeTopicRule[];
  route: (topic: string) => Route | null;
  store: BridgeStore;
  log: Logger;
  /** A record became durable: the forwarder may have something to send. */
  stored(): void;
  /** A message was consumed without being stored (overflow, too large, or on no rule's topic). */
  notStored(reason: 'dropped-oldest' | 'dropped-newest' | 'too-large' | 'unrouted', topic: string): void;
  /** The store refused a write: the caller drops the connection so the broker resends. */
  storeFailed(err: unknown): void;
}

export interface LocalCounters {
  received: number;
  stored: number;
}

export class LocalSide {
  readonly counters: LocalCounters = { received: 0, stored: 0 };
  private current: MqttClient | null = null;
  private ackChain: Promise<void> = Promise.resolve();
  private subscribed = false;

  constructor(private readonly parts: LocalSideParts) {}

  /** Installs the deferred-PUBACK handler; called before CONNECT, as queued messages can follow CONNACK at once. */
  prepare(client: MqttClient): void {
    this.current = client;
    this.ackChain = Promise.resolve();
    // The connection before this one is gone, and with it whatever it had not acknowledged.
    this.parts.store.resume();
    client.handleMessage = (packet, done) => {
      if (packet.qos === 0) {
        void this.take(packet).catch(() => undefined);
        done();
        return;
      }
      const taken = this.take(packet);
      const messageId = packet.messageId;
      this.ackChain = this.ackChain.then(() =>
        taken.then(
          () => {
            // A connection that has since dropped gets no PUBACK: the broker resends on the new one.
            if (this.current === client && client.connected && messageId !== undefined) {
              (client as unknown as PacketWriter)._sendPacket({ cmd: 'puback', messageId }, () => undefined);
            }
          },
          (err: unknown) => {
            if (this.current === client) this.parts.storeFailed(err);
          },
        ),
      );
      done(ACK_DEFERRED);
    };
  }

  /**
   * A connection is up: subscribe when the broker lost the session, and on the first connection
   * of this run (the rules may have changed since the session was made). Not otherwise: a new
   * SUBSCRIBE makes the broker send its retained messages again [MQTT-3.8.4-3].
   */
  up(client: MqttClient, sessionPresent: boolean): void {
    if (!sessionPresent || !this.subscribed) this.subscribe(client);
    this.subscribed = true;
  }

  /** Waits (at most `limitMs`) until the PUBACKs of messages already received have gone out. */
  async settle(limitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, limitMs);
    });
    await Promise.race([this.ackChain, limit]);
    clearTimeout(timer);
  }

  down(): void {
    this.current = null;
  }

  private subscribe(client: MqttClient): void {
    const { rules, log } = this.parts;
    const wanted: Record<string, { qos: 0 | 1 }> = {};
    for (const r of rules) wanted[r.filter] = { qos: r.qos };
    client.subscribe(wanted, (err, granted) => {
      const refused = (granted ?? []).filter((g) => g.qos >= 0x80).map((g) => g.topic);
      if (err || refused.length > 0) {
        log.error(
          { filters: refused, err: err?.message },
          'bridge: the local broker refused a subscription: allow these filters for the bridge client id in its ACL',
        );
      }
    });
  }

  /** Stores one message; resolves when it is durable or consciously not stored. */
  private async take(packet: IPublishPacket): Promise<void> {
    this.counters.received++;
    const route = this.parts.route(packet.topic);
    if (route === null) {
      this.parts.notStored('unrouted', packet.topic);
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const outcome = await this.parts.store.append({
      topic: route.topic,
      payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
      qos: route.qos,
      retain: packet.retain,
    });
    if (outcome === 'stored') {
      this.counters.stored++;
      this.parts.stored();
    } else {
      this.parts.notStored(outcome, packet.topic);
    }
  }
}

import type { MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import { MqttSubscribeError } from './errors.js';
import { subscribeCodes } from './mqttjs.js';
import { type MessageHandler, type Subscription, SubscriptionTable } from './subscriptions.js';

/** What the keeper needs to know about the link's connection. */
export interface KeeperConnection {
  /** The mqtt.js client, or null before start. */
  client(): MqttClient | null;
  /** True once connected and until the connection drops. */
  isUp(): boolean;
}

/**
 * Keeps the link's subscriptions true across broker sessions: subscribes now when online,
 * remembers what it could not, re-subscribes what a broker forgot (CONNACK session present = 0)
 * and unsubscribes, once back, what was dropped while offline.
 */
export class SubscriptionKeeper {
  private readonly table = new SubscriptionTable();
  /** Filters removed while offline; the broker's session may still hold them. */
  private readonly stale = new Set<string>();

  constructor(
    private readonly connection: KeeperConnection,
    private readonly log: Logger,
  ) {}

  /** Throws TopicFilterError for an invalid filter, MqttSubscribeError when the broker refuses it. */
  async subscribe(filter: string, qos: 0 | 1, handler: MessageHandler): Promise<void> {
    const subscription = this.table.set(filter, qos, handler);
    this.stale.delete(filter);
    // Offline (or not started): the next CONNACK subscribes everything not yet granted.
    if (!this.connection.isUp()) return;
    const refused = await this.request([subscription]);
    if (refused.length > 0) {
      this.table.delete(filter);
      throw new MqttSubscribeError(
        filter,
        'the broker refused it (SUBACK 0x80); its access rules may forbid this filter',
      );
    }
  }

  async unsubscribe(filter: string): Promise<void> {
    if (!this.table.delete(filter)) return;
    const client = this.connection.client();
    if (client === null || !this.connection.isUp()) {
      this.stale.add(filter);
      return;
    }
    try {
      await client.unsubscribeAsync(filter);
    } catch (err) {
      this.stale.add(filter);
      this.log.debug({ filter, err: messageOf(err) }, 'unsubscribe not confirmed; will retry on reconnect');
    }
  }

  /** After a CONNACK: puts back what the broker forgot and takes away what was dropped offline. */
  async restore(sessionPresent: boolean): Promise<void> {
    const client = this.connection.client();
    if (client === null) return;
    if (!sessionPresent) {
      this.table.revokeAll();
      this.stale.clear(); // a new session holds nothing to take away
    } else if (this.stale.size > 0) {
      await client.unsubscribeAsync([...this.stale]).then(
        () => this.stale.clear(),
        (err: unknown) => this.log.debug({ err: messageOf(err) }, 'stale unsubscribe not confirmed'),
      );
    }
    const wanted = this.table.all().filter((s) => !s.granted);
    if (wanted.length === 0) return;
    for (const s of await this.request(wanted)) {
      this.log.warn(
        { filter: s.filter },
        'the broker refused a subscription (SUBACK 0x80); its handler gets nothing',
      );
    }
  }

  /** Runs the handlers matching `topic`; returns how many ran. See SubscriptionTable.dispatch. */
  dispatch(topic: string, payload: Uint8Array, onError: (err: unknown, filter: string) => void): number {
    return this.table.dispatch(topic, payload, onError);
  }

  /**
   * Sends one SUBSCRIBE for `wanted` and marks what was granted; returns the refused ones. A
   * connection lost meanwhile is no refusal: those stay ungranted for the next CONNACK.
   */
  private async request(wanted: readonly Subscription[]): Promise<Subscription[]> {
    const client = this.connection.client();
    if (client === null) return [];
    let codes: readonly number[];
    try {
      codes = await subscribeCodes(client, wanted);
    } catch (err) {
      if (!this.connection.isUp()) return [];
      throw new MqttSubscribeError(wanted.map((s) => s.filter).join(', '), messageOf(err), err);
    }
    const refused: Subscription[] = [];
    wanted.forEach((s, i) => {
      const code = codes[i];
      if (code === undefined || code >= 0x80) refused.push(s);
      // Skip one replaced meanwhile by a newer subscribe() of the same filter.
      else if (this.table.get(s.filter) === s) s.granted = true;
    });
    return refused;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BridgeStore } from './store.js';

/**
 * The upstream half: sends stored records in sequence order with QoS 1 (or the rule's QoS),
 * at most `window` awaiting their PUBACK, and moves the store's cursor over the longest run of
 * acknowledged records from its start. After a reconnect it starts again at the first record
 * not acknowledged, so records in flight when the link dropped are sent twice: at least once,
 * in order, duplicates only as a repeated run right after a reconnect.
 */

export interface ForwarderCounters {
  /** Records the upstream broker acknowledged (QoS 1) or that were written to it (QoS 0). */
  forwarded: number;
  /** Records sent again after a reconnect (already sent once, acknowledgement not seen). */
  resent: number;
  /** Records the upstream client refused outright (never happens with valid topics); skipped. */
  refused: number;
}

interface InFlight {
  seq: number;
  done: boolean;
}

export class Forwarder {
  readonly counters: ForwarderCounters = { forwarded: 0, resent: 0, refused: 0 };
  private connection: object | null = null;
  private highestSent = 0;
  private wakeUp: (() => void) | null = null;
  private woken = false;

  constructor(
    private readonly store: BridgeStore,
    private readonly window: number,
    private readonly log: Logger,
  ) {}

  /** Something changed (a record stored, an acknowledgement, a connection lost): look again. */
  wake(): void {
    this.woken = true;
    const resume = this.wakeUp;
    this.wakeUp = null;
    resume?.();
  }

  up(client: MqttClient): void {
    const connection = {};
    this.connection = connection;
    void this.pump(client, connection).catch((err: unknown) => {
      // A store read failed: drop the connection; the next one starts again from the cursor.
      this.log.error({ err: (err as Error).message }, 'bridge: forwarding stopped; reconnecting upstream');
      client.end(true);
    });
  }

  down(): void {
    this.connection = null;
    this.wake();
  }

  private async pump(client: MqttClient, connection: object): Promise<void> {
    const inFlight: InFlight[] = [];
    let next = this.store.firstUnacked();
    while (this.connection === connection) {
      const room = this.window - inFlight.length;
      const records = room > 0 ? await this.store.read(next, room) : [];
      if (this.connection !== connection) return;
      if (records.length === 0) {
        await this.idle();
        continue;
      }
      for (const record of records) {
        if (record.seq <= this.highestSent) this.counters.resent++;
        this.highestSent = Math.max(this.highestSent, record.seq);
        const entry: InFlight = { seq: record.seq, done: false };
        inFlight.push(entry);
        next = record.seq + 1;
        client.publish(record.topic, record.payload, { qos: record.qos, retain: record.retain }, (err) => {
          if (this.connection !== connection) return;
          if (err !== undefined && err !== null) {
            if (!client.connected) return; // the link dropped; the record goes again after the reconnect
            this.counters.refused++;
            this.log.error(
              { topic: record.topic, seq: record.seq, err: err.message },
              'bridge: upstream publish refused; skipped',
            );
          } else {
            this.counters.forwarded++;
          }
          entry.done = true;
          this.settle(inFlight);
        });
      }
    }
  }

  /** Acknowledges the run of finished records at the front of the window. */
  private settle(inFlight: InFlight[]): void {
    let through = -1;
    while (inFlight[0]?.done === true) through = inFlight.shift()!.seq;
    if (through < 0) return;
    this.store.acknowledge(through);
    this.wake();
  }

  /** Waits for wake(), unless one came since the last wait. */
  private idle(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.wakeUp = () => {
        this.woken = false;
        resolve();
      };
    });
  }
}

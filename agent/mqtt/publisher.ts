import type net from 'node:net';
import type { MqttClient } from 'mqtt';
import { MqttPublishError, MqttQueueFullError } from './errors.js';
import { asBuffer } from './mqttjs.js';

/** What the publisher reads from the link, at the moment of each publish. */
export interface PublisherHost {
  client(): MqttClient | null;
  /** Connected and subscriptions restored. */
  isUp(): boolean;
  socket(): net.Socket | null;
}

const DEFAULT_MAX_PENDING_QOS1 = 10_000;
/** Unsent bytes beyond which QoS 0 is dropped rather than buffered without bound. */
const MAX_QOS0_BACKLOG_BYTES = 4 * 1024 * 1024;

/**
 * The link's outgoing side: QoS 1 tracked until PUBACK and bounded, QoS 0 sent only on a ready
 * connection whose socket keeps up, and counted when dropped. The link checks that it is running.
 */
export class Publisher {
  readonly count = { publishes: 0, droppedQos0Offline: 0, droppedQos0Backlog: 0 };
  private readonly pending = new Set<(err: Error) => void>();
  private readonly maxPending: number;

  constructor(
    private readonly host: PublisherHost,
    maxPendingQos1: number | undefined,
  ) {
    this.maxPending = maxPendingQos1 ?? DEFAULT_MAX_PENDING_QOS1;
  }

  /** QoS 1 publishes awaiting PUBACK. */
  get pendingQos1(): number {
    return this.pending.size;
  }

  publish(
    client: MqttClient,
    topic: string,
    payload: Uint8Array | string,
    opts: { qos: 0 | 1; retain?: boolean },
  ): Promise<void> {
    const retain = opts.retain ?? false;
    if (opts.qos === 0) {
      if (this.canSendQos0()) {
        client.publish(topic, asBuffer(payload), { qos: 0, retain });
        this.count.publishes++;
      }
      return Promise.resolve();
    }
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(new MqttQueueFullError(topic, this.maxPending));
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.add(reject);
      // Offline, mqtt.js keeps the packet in its outgoing store and sends it after the next
      // CONNACK; the link's reconnect hands the same store back, so nothing is lost.
      client.publish(topic, asBuffer(payload), { qos: 1, retain }, (err) => {
        if (!this.pending.delete(reject)) return; // failPending() already failed it
        if (err) reject(new MqttPublishError(topic, err));
        else resolve();
      });
      this.count.publishes++;
    });
  }

  publishFast(client: MqttClient, topic: string, payload: Uint8Array | string): void {
    if (this.canSendQos0()) {
      client.publish(topic, asBuffer(payload));
      this.count.publishes++;
    }
  }

  /** Rejects every QoS 1 publish still awaiting its PUBACK (the link stopped). */
  failPending(err: Error): void {
    for (const reject of this.pending) reject(err);
    this.pending.clear();
  }

  /**
   * QoS 0 goes out only on a ready connection whose socket keeps up; otherwise it is counted as
   * dropped. Ready means after 'connected': while mqtt.js re-sends its stored QoS 1 after a
   * CONNACK it holds every other publish in an unbounded in-memory queue.
   */
  private canSendQos0(): boolean {
    if (!this.host.isUp()) {
      this.count.droppedQos0Offline++;
      return false;
    }
    const socket = this.host.socket();
    if (socket !== null && socket.writableLength > MAX_QOS0_BACKLOG_BYTES) {
      this.count.droppedQos0Backlog++;
      return false;
    }
    return true;
  }
}

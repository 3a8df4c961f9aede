import type { Aedes, Client } from 'aedes';
import type { Logger } from 'pino';

/**
 * aedes resumes a persistent session by subscribing it to its topics (restoreSubs) and only then
 * stores its will and writes the CONNACK. A message published on one of those topics in between
 * is written to the client before its CONNACK, which MQTT 3.1.1 forbids [MQTT-3.2.0-1]. mqtt.js
 * then stalls for good: it queues the PUBACK of that early message until it is connected, and
 * reads nothing more (the CONNACK included) until that PUBACK is sent. The client times out and
 * reconnects into the same race. With the broker on Redis or on a slow disk the window is
 * milliseconds wide: a historian reconnecting with clean: false while the sensors publish.
 *
 * The guard stops deliveries to a client until its CONNACK is written:
 * - a QoS 1/2 message is left to the session's queue: aedes queues it in persistence for every
 *   persistent subscription before delivering it live, and sends that queue right after the
 *   CONNACK, so it arrives once, in order, with the messages that waited for the session;
 * - a QoS 0 message (no queue) is held and sent right after the CONNACK.
 * Either way mqemitter is released at once, so one slow CONNECT holds up nobody else.
 */

/** QoS 0 messages held for one client at most; past this they are dropped and counted. */
export const MAX_HELD_DELIVERIES = 10_000;

type Deliver = (packet: DeliveredPacket, cb: () => void) => void;
interface DeliveredPacket {
  qos: number;
  retain?: boolean;
}
interface DeliveringClient {
  deliver0: Deliver;
  deliverQoS: Deliver;
}

export interface ConnackFirstCounts {
  /** Messages that arrived for a client before its CONNACK: held, or left to its queue. */
  deliveriesBeforeConnack: number;
  /** QoS 0 messages dropped because a client's CONNACK was held up past MAX_HELD_DELIVERIES. */
  deliveriesDroppedBeforeConnack: number;
}

export function sendConnackFirst(aedes: Aedes, counts: ConnackFirstCounts, log: Logger): void {
  const held = new WeakMap<object, { deliver: Deliver; packet: DeliveredPacket }[]>();
  const target = aedes as unknown as {
    preConnect: (client: Client, packet: unknown, done: (err: Error | null, ok: boolean) => void) => void;
  };
  const preConnect = target.preConnect.bind(aedes);
  target.preConnect = (client, packet, done) => {
    guard(client as unknown as DeliveringClient);
    preConnect(client, packet, done);
  };

  function guard(client: DeliveringClient): void {
    const waiting: { deliver: Deliver; packet: DeliveredPacket }[] = [];
    held.set(client, waiting);
    const hold =
      (deliver: Deliver, qosSubscription: boolean): Deliver =>
      (packet, cb) => {
        if (!held.has(client)) {
          deliver(packet, cb);
          return;
        }
        counts.deliveriesBeforeConnack++;
        // A QoS 1/2 message to a QoS 1/2 subscription is in the queue; a retained copy (sent on
        // SUBSCRIBE) is not.
        const queued = qosSubscription && packet.qos > 0 && packet.retain !== true;
        if (queued) {
          cb();
          return;
        }
        if (waiting.length < MAX_HELD_DELIVERIES) waiting.push({ deliver, packet });
        else counts.deliveriesDroppedBeforeConnack++;
        cb();
      };
    client.deliver0 = hold(client.deliver0, false);
    client.deliverQoS = hold(client.deliverQoS, true);
  }

  // Emitted from the CONNACK's write callback, before aedes sends the session's queue.
  aedes.on('connackSent', (_packet, client) => {
    const waiting = held.get(client);
    if (waiting === undefined) return;
    held.delete(client);
    if (waiting.length === 0) return;
    log.debug(
      { client: client.id, held: waiting.length },
      'sending QoS 0 messages that came before the CONNACK',
    );
    for (const { deliver, packet } of waiting) deliver(packet, noop);
  });
}

const noop = (): void => {};

import net from 'node:net';
import { type IClientOptions, type IConnackPacket, MqttClient } from 'mqtt';
import { recordEvents, waitForEvent } from './wait-for.js';

export interface ReceivedMessage {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

export interface RecordingClient {
  readonly client: MqttClient;
  /** The CONNACK: `sessionPresent` says whether the broker kept the session. */
  readonly connack: IConnackPacket;
  /** Every message received since the CONNECT (queued ones arrive right behind the CONNACK). */
  messages(): ReceivedMessage[];
  /** Resolves once `count` messages have arrived; rejects after `timeoutMs`. */
  waitForCount(count: number, timeoutMs?: number): Promise<void>;
}

/**
 * A CONNACK that restores a persistent session (from Redis, say) can take seconds while the
 * whole suite shares two cores with several agent processes; this is about what arrives, not
 * how fast.
 */
const CONNECT_WAIT_MS = 15_000;

/**
 * An mqtt.js client (MQTT 3.1.1, no reconnect) that records messages from before its CONNECT,
 * so a persistent session's queued messages, sent right behind the CONNACK, are not missed
 * (connectTestClient attaches listeners only after it resolves). End it with endAsync(true).
 */
export async function connectRecordingClient(url: string, options: IClientOptions): Promise<RecordingClient> {
  const { hostname, port } = new URL(url);
  const client = new MqttClient(() => net.connect({ host: hostname, port: Number(port) }), {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: CONNECT_WAIT_MS,
    ...options,
  });
  client.on('error', () => undefined);
  const recorder = recordEvents<[string, Buffer, { qos: number; retain: boolean }]>(client, 'message');
  const [connack] = await waitForEvent<[IConnackPacket]>(client, 'connect', {
    timeoutMs: CONNECT_WAIT_MS,
  }).catch((err: Error) => {
    client.end(true);
    throw err;
  });
  return {
    client,
    connack,
    messages: () =>
      recorder.seen.map(([topic, payload, packet]) => ({
        topic,
        payload: payload.toString(),
        qos: packet.qos,
        retain: packet.retain,
      })),
    waitForCount: async (count, timeoutMs) => {
      await recorder.waitForCount(count, timeoutMs);
    },
  };
}

/**
 * Publishes `count` QoS 1 messages, payload `0`, `1`, … in order, keeping up to `window` of
 * them unacknowledged at a time (one at a time would measure round trips, not the broker).
 */
export async function publishWindowed(
  client: MqttClient,
  topic: string,
  count: number,
  window = 256,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      await client.publishAsync(topic, String(n), { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

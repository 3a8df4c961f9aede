import type { IClientOptions, MqttClient } from 'mqtt';
import type { MqttLinkInit } from './link-types.js';
import type { ProtocolVersion } from './protocol-version.js';
import type { BrokerTarget } from './transport.js';

/**
 * What the link needs from mqtt.js, with its quirks handled in one place (mqtt.js 5.x, read
 * from its build/lib/client.js and handlers/ack.js).
 */

/** MQTT 5 ends a session at disconnect unless told otherwise; keep it a day, like a 3.1.1 broker would. */
const MQTT5_SESSION_EXPIRY_S = 86_400;

/**
 * Client options for the link: persistent session, no reconnects or resubscribes of mqtt.js's
 * own, speaking `version`.
 */
export function clientOptions(
  init: MqttLinkInit,
  target: BrokerTarget,
  version: ProtocolVersion,
): IClientOptions {
  const username = init.username ?? target.username;
  const password = init.password ?? target.password;
  return {
    clientId: init.clientId,
    // A persistent session keeps QoS 1 subscriptions and queued messages across reconnects.
    clean: false,
    keepalive: init.keepaliveS,
    ...versionOptions(version),
    // Reconnects are the link's (backoff with jitter); mqtt.js's fixed period is off, and with
    // it mqtt.js's own resubscription, which it only records when reconnectPeriod > 0.
    reconnectPeriod: 0,
    resubscribe: false,
    manualConnect: true,
    // Per attempt: TCP, TLS and CONNACK must all fit in the time start() allows.
    connectTimeout: init.connectTimeoutMs,
    // The link decides what QoS 0 does offline (drop and count); mqtt.js would queue it.
    queueQoSZero: false,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(init.will === undefined
      ? {}
      : {
          will: {
            topic: init.will.topic,
            payload: asBuffer(init.will.payload),
            qos: init.will.qos,
            retain: init.will.retain,
          },
        }),
  };
}

function versionOptions(version: ProtocolVersion): Pick<IClientOptions, 'protocolVersion' | 'properties'> {
  return version === 5
    ? { protocolVersion: 5, properties: { sessionExpiryInterval: MQTT5_SESSION_EXPIRY_S } }
    : { protocolVersion: 4 };
}

/**
 * Makes the client's next CONNECT speak `version`. mqtt.js reads options.protocolVersion and
 * options.properties afresh on every connect(): for the CONNECT packet, the packet parser and
 * the packet writer. Stored QoS 1 publishes and their callbacks stay, which a new client would lose.
 */
export function useProtocolVersion(client: MqttClient, version: ProtocolVersion): void {
  const { protocolVersion, properties } = versionOptions(version);
  client.options.protocolVersion = protocolVersion;
  if (properties === undefined) delete client.options.properties;
  else client.options.properties = properties;
}

/**
 * Sends one SUBSCRIBE and resolves with the SUBACK return codes, one per filter in the order
 * given [MQTT-3.9.3-1]; a code ≥ 0x80 is a refusal. mqtt.js rejects the whole request when any
 * filter is refused, with the SUBACK attached: that is unwrapped here. Any other failure (the
 * connection closed meanwhile) rejects with mqtt.js's error.
 */
export async function subscribeCodes(
  client: MqttClient,
  wanted: readonly { filter: string; qos: 0 | 1 }[],
): Promise<readonly number[]> {
  const map: Record<string, { qos: 0 | 1 }> = {};
  for (const s of wanted) map[s.filter] = { qos: s.qos };
  try {
    // mqtt.js hands back its request list with each qos replaced by the granted code.
    return (await client.subscribeAsync(map)).map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: unknown } }).packet?.granted;
    if (Array.isArray(granted)) return granted as number[];
    throw err;
  }
}

/**
 * Ends the client within `flushMs`; resolves false when it had to give up. Connected, mqtt.js's
 * end() first waits until every in-flight QoS 1 is acknowledged, then sends DISCONNECT, so the
 * broker discards the will. Offline, it just closes.
 */
export async function endWithin(client: MqttClient, flushMs: number): Promise<boolean> {
  const force = !client.connected;
  const ended = new Promise<boolean>((resolve) => client.end(force, () => resolve(true)));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), flushMs);
  });
  try {
    return await Promise.race([ended, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** mqtt.js writes Buffers; a Uint8Array is wrapped (no copy). */
export function asBuffer(payload: Uint8Array | string): Buffer | string {
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) return payload;
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

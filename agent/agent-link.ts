import type { NodeIdentity } from '../protocol/identity.js';
import { topicsFor } from '../protocol/topics.js';
import { nodeCredentials } from './broker-setup.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import { createMqttLink, type MqttLink } from './mqtt/link.js';

/**
 * The agent's MQTT link to its broker. `fieldmeshBroker`: the broker is one of ours (embedded
 * here or hosted by a peer with broker: auto) — 3.1.1, and the node key as login.
 */
export function createAgentLink(
  config: Readonly<Config>,
  context: {
    identity: NodeIdentity;
    url: string;
    fieldmeshBroker: boolean;
    offlineRecord: string;
    logger: Logger;
  },
): MqttLink {
  const { identity, fieldmeshBroker } = context;
  const clientId = config.mqtt.clientId ?? `fieldmesh-${identity.peerId}`;
  // Our brokers always, and other brokers unless a username is set: the node key, no secret.
  const nodeLogin = fieldmeshBroker || (config.mqtt.nodeLogin && config.mqtt.username === undefined);
  return createMqttLink(
    {
      url: context.url,
      clientId,
      keepaliveS: config.mqtt.keepaliveS,
      // aedes speaks 3.1.1 only: no MQTT 5 attempt against a fieldmesh broker.
      protocolVersion: fieldmeshBroker ? 4 : config.mqtt.protocolVersion,
      reconnect: config.mqtt.reconnect,
      connectTimeoutMs: config.mqtt.connectTimeoutMs,
      ...(fieldmeshBroker || config.mqtt.tls === undefined ? {} : { tls: config.mqtt.tls }),
      ...(nodeLogin
        ? { credentials: () => nodeCredentials(identity, clientId) }
        : {
            ...(config.mqtt.username === undefined ? {} : { username: config.mqtt.username }),
            ...(config.mqtt.password === undefined ? {} : { password: config.mqtt.password }),
          }),
      will: {
        topic: topicsFor(config.mqtt.topicRoot).node(identity.peerId),
        payload: context.offlineRecord,
        qos: 1,
        retain: true,
      },
    },
    { logger: context.logger.child({ component: 'mqtt' }) },
  );
}

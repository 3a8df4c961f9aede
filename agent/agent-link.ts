import type { NodeIdentity } from '../protocol/identity.js';
import { topicsFor } from '../protocol/topics.js';
import { nodeCredentials } from './broker-setup.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import { createMqttLink, type MqttLink, type MqttLinkInit } from './mqtt/link.js';

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
  return createMqttLink(
    {
      ...nodeLinkOptions(config, identity, context.url, clientId, fieldmeshBroker),
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

/**
 * How a node logs in to its broker: our brokers always, and other brokers unless a username is
 * set, with the node key and no secret; aedes speaks 3.1.1 only, so no MQTT 5 attempt there.
 */
export function nodeLinkOptions(
  config: Readonly<Config>,
  identity: NodeIdentity,
  url: string,
  clientId: string,
  fieldmeshBroker: boolean,
): MqttLinkInit {
  const nodeLogin = fieldmeshBroker || (config.mqtt.nodeLogin && config.mqtt.username === undefined);
  return {
    url,
    clientId,
    keepaliveS: config.mqtt.keepaliveS,
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
  };
}

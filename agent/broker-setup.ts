import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadAclFile } from '../broker/acl-file.js';
import type { EmbeddedBrokerInit, ExtraListener } from '../broker/broker-init.js';
import { openCredentialStore } from '../broker/credentials.js';
import { createEmbeddedBroker, type EmbeddedBroker } from '../broker/embedded-broker.js';
import { BrokerConfigError } from '../broker/errors.js';
import type { BrokerStorageSpec } from '../broker/storage.js';
import type { TlsMaterial } from '../broker/tcp-listener.js';
import { issueBrokerToken } from '../protocol/broker-token.js';
import type { NodeIdentity } from '../protocol/identity.js';
import { type BrokerConfig, brokerHost, brokerMode } from './config/broker-schema.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';

/** How long a node token the agent presents is valid; a fresh one is made for every connect. */
export const NODE_TOKEN_LIFETIME_MS = 5 * 60_000;

/**
 * The embedded broker's settings from the agent's `broker:` section: files read (certificates,
 * credentials, ACL) with errors that name them, and this node trusted for node-key logins.
 */
export async function embeddedBrokerInit(
  broker: BrokerConfig,
  context: { identity: NodeIdentity; dataDir: string; topicRoot: string },
): Promise<EmbeddedBrokerInit> {
  const listeners: ExtraListener[] = [];
  const tls = broker.tls && (await readTlsMaterial(broker.tls));
  if (broker.tls && tls) {
    listeners.push({ kind: 'tls', host: broker.tls.host ?? brokerHost(broker), port: broker.tls.port, tls });
  }
  if (broker.websocket) {
    const ws = broker.websocket;
    const secure = ws.secure && tls !== undefined;
    listeners.push({
      kind: secure ? 'wss' : 'ws',
      host: ws.host ?? brokerHost(broker),
      port: ws.port,
      path: ws.path,
      ...(secure ? { tls } : {}),
    });
  }
  const trusted = broker.auth.trustedNodes;
  const { maxClients, ...limits } = broker.limits;
  return {
    host: brokerHost(broker),
    port: broker.port,
    listeners,
    auth: {
      allowAnonymous: broker.auth.allowAnonymous,
      trustedNodes: trusted === 'any' ? 'any' : [context.identity.peerId, ...trusted],
      clockSkewMs: broker.auth.clockSkewS * 1000,
      ...(broker.auth.credentialsFile === undefined
        ? {}
        : { credentials: await openCredentialStore({ file: broker.auth.credentialsFile }) }),
    },
    ...(broker.aclFile === undefined ? {} : { acl: await loadAclFile(broker.aclFile) }),
    topicRoot: context.topicRoot,
    limits: { ...limits, ...(maxClients === undefined ? {} : { maxClients }) },
    storage: storageSpec(broker, context.dataDir),
  };
}

function storageSpec(broker: BrokerConfig, dataDir: string): BrokerStorageSpec {
  if (broker.storage === 'memory') return { kind: 'memory' };
  if (broker.storage === 'redis') {
    return { kind: 'redis', url: broker.redisUrl ?? '', prefix: broker.redisPrefix };
  }
  return { kind: 'disk', dir: path.join(dataDir, 'broker'), sync: broker.diskSync };
}

async function readTlsMaterial(tls: NonNullable<BrokerConfig['tls']>): Promise<TlsMaterial> {
  const read = async (field: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new BrokerConfigError(
        `tls.${field}`,
        `file ${file} cannot be read (${code}); check the path and its permissions`,
      );
    }
  };
  return {
    cert: await read('cert', tls.cert),
    key: await read('key', tls.key),
    ...(tls.ca === undefined ? {} : { ca: await read('ca', tls.ca) }),
    requireClientCert: tls.requireClientCert,
  };
}

/** MQTT credentials of a node logging in with its key: its PeerId and a fresh signed token. */
export function nodeCredentials(
  identity: NodeIdentity,
  clientId: string,
): { username: string; password: string } {
  return {
    username: identity.peerId,
    password: issueBrokerToken(identity.secretKey, clientId, Date.now(), NODE_TOKEN_LIFETIME_MS),
  };
}

/**
 * Starts the agent's embedded broker. With broker: auto it is the site broker, so it lets in
 * every node the mesh would trust, besides broker.auth.trustedNodes.
 */
export async function startAgentBroker(
  config: Readonly<Config>,
  identity: NodeIdentity,
  logger: Logger,
): Promise<EmbeddedBroker> {
  const init = await embeddedBrokerInit(config.broker, {
    identity,
    dataDir: config.node.dataDir,
    topicRoot: config.mqtt.topicRoot,
  });
  const meshTrust = config.mesh.trustedNodes;
  if (brokerMode(config.broker) === 'auto') {
    const own = init.auth.trustedNodes;
    init.auth.trustedNodes = meshTrust === 'any' || own === 'any' ? 'any' : [...own, ...meshTrust];
  }
  const broker = createEmbeddedBroker(init, { logger: logger.child({ component: 'broker' }) });
  await broker.start();
  return broker;
}

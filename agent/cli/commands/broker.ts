import path from 'node:path';
import { createEmbeddedBroker } from '../../../broker/embedded-broker.js';
import { loadOrCreateIdentity } from '../../../protocol/keystore.js';
import { embeddedBrokerInit } from '../../broker-setup.js';
import type { BrokerConfig } from '../../config/broker-schema.js';
import { loadConfigFile } from '../../config/load.js';
import { configSchema } from '../../config/schema.js';
import { createLogger } from '../../log.js';
import { intOption, parse, UsageError } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';
import { runUntilStopped } from '../lifecycle.js';

export const BROKER_HELP = `fieldmesh broker [--config FILE] [--host ADDR] [--port N] [options]
       fieldmesh broker passwd FILE USER [--delete] [--password-stdin]   (see its --help)

Runs the embedded MQTT 3.1.1 broker on its own, for sites without one. With --config it
takes the broker: section of an agent configuration (listeners, TLS, auth, ACL, storage,
limits) and the node key of its data dir; the options below override it.

Options:
  -c, --config FILE     agent configuration whose broker: section to use
  --host ADDR           address to listen on (default 127.0.0.1; 0.0.0.0 for the whole LAN)
  --port N              TCP port (default 1883)
  --credentials FILE    device users (made with "fieldmesh broker passwd")
  --acl FILE            topic ACL (YAML; see docs/broker.md)
  --allow-anonymous     let clients in without a username (closed test networks only)
  --trust IDS           node ids (comma-separated) that may log in with their node key,
                        or "any" for every valid key (this host's own node always may)
  --storage KIND        disk (default: sessions survive restarts), memory or redis
  --data-dir DIR        node key and stored sessions (default ./data)
  --log-level LEVEL     fatal, error, warn, info, debug, trace (default info)
  -h, --help            this help

${EXIT_HELP}`;

export async function brokerCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'passwd') {
    const { brokerPasswdCommand } = await import('./broker-passwd.js');
    return brokerPasswdCommand(argv.slice(1));
  }
  const { values } = parse('broker', argv, {
    config: { type: 'string', short: 'c' },
    host: { type: 'string' },
    port: { type: 'string' },
    credentials: { type: 'string' },
    acl: { type: 'string' },
    'allow-anonymous': { type: 'boolean' },
    trust: { type: 'string' },
    storage: { type: 'string' },
    'data-dir': { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${BROKER_HELP}\n`);
    return 0;
  }
  const config = values.config ? await loadConfigFile(values.config) : configSchema.parse({});
  const dataDir = values['data-dir'] ? path.resolve(values['data-dir']) : config.node.dataDir;
  const logger = createLogger({ level: values['log-level'] ?? config.log.level, format: 'json' });
  const b = config.broker;
  const storage = values.storage ?? b.storage;
  if (storage !== 'disk' && storage !== 'memory' && storage !== 'redis') {
    throw new UsageError(`fieldmesh broker: --storage is ${storage}; use disk, memory or redis`);
  }
  const trust = values.trust?.trim();
  const trustedNodes = trust === undefined ? b.auth.trustedNodes : trust === 'any' ? 'any' : trust.split(',');
  const broker: BrokerConfig = {
    ...b,
    storage,
    host: values.host ?? b.host,
    port: intOption('broker', 'port', values.port, 0, 65535) ?? b.port,
    auth: {
      ...b.auth,
      allowAnonymous: values['allow-anonymous'] === true || b.auth.allowAnonymous,
      trustedNodes,
      ...(values.credentials ? { credentialsFile: path.resolve(values.credentials) } : {}),
    },
    ...(values.acl ? { aclFile: path.resolve(values.acl) } : {}),
  };
  const { identity } = await loadOrCreateIdentity(dataDir);
  const init = await embeddedBrokerInit(broker, { identity, dataDir, topicRoot: config.mqtt.topicRoot });
  const server = createEmbeddedBroker(init, { logger: logger.child({ component: 'broker' }) });
  if (!init.auth.allowAnonymous && init.auth.credentials === undefined) {
    logger.warn(
      'no credentials file and anonymous access off: only mesh nodes can log in; add users with "fieldmesh broker passwd FILE USER" and --credentials FILE',
    );
  }
  await runUntilStopped(
    [
      {
        start: async () => {
          await server.start();
          logger.info(
            { url: server.url, urls: server.urls(), node: identity.peerId, storage: broker.storage },
            'broker listening',
          );
        },
        stop: () => server.stop(),
      },
    ],
    { logger },
  );
  return 0;
}

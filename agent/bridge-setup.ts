import { type Bridge, createBridge } from '../broker/bridge/bridge.js';
import type { NodeIdentity } from '../protocol/identity.js';
import { nodeCredentials } from './broker-setup.js';
import { bridgeInitFromConfig } from './config/bridge-schema.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';

/**
 * Starts the upstream bridge of the `bridge:` section. Its local side logs in as this node
 * (signed token) unless the section names a user. Throws what refused it; the agent makes
 * that a part failure that stops nothing else.
 */
export async function startAgentBridge(
  config: Readonly<Config>,
  section: NonNullable<Config['bridge']>,
  parts: { identity: NodeIdentity; localUrl: string; logger: Logger },
): Promise<Bridge> {
  const { identity } = parts;
  const init = bridgeInitFromConfig(section, {
    nodeId: identity.peerId,
    dataDir: config.node.dataDir,
    localUrl: parts.localUrl,
  });
  const clientId = init.local.clientId;
  if (init.local.username === undefined) init.local.credentials = () => nodeCredentials(identity, clientId);
  const bridge = createBridge(init, { logger: parts.logger.child({ component: 'bridge' }) });
  await bridge.start();
  return bridge;
}

import { Agent } from '../agent.js';
import type { Logger } from '../log.js';
import { projectFile } from '../project-files.js';
import { demoConfigWithSettlement } from './demo-settlement.js';

export const DEMO_PEER_CONFIG = projectFile('deploy', 'examples', 'demo-peer.yaml');

/** One node of the demo site as the live view names it. */
export interface DemoNode {
  readonly name: string;
  readonly agent: Agent;
}

/** How long a peer may take to find the demo gateway's broker over mDNS and connect. */
const PEER_JOIN_MS = 20_000;

/**
 * Starts `count` peers from demo-peer.yaml beside the demo gateway: demo-peer-1, -2, …, each
 * with its own data directory next to the gateway's (so its own node key), the same
 * settlement service, and a port of its own should it ever host a broker. They find the
 * gateway over mDNS on loopback and use its broker (`broker: auto`).
 */
export async function startDemoPeers(
  count: number,
  options: {
    gatewayDataDir: string;
    settlement: { url: string; peerId: string } | undefined;
    logger: Logger;
  },
): Promise<DemoNode[]> {
  const peers: DemoNode[] = [];
  try {
    for (let i = 1; i <= count; i++) {
      const name = `demo-peer-${i}`;
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        FIELDMESH_NODE_NAME: name,
        FIELDMESH_DATA_DIR: `${options.gatewayDataDir}-peer-${i}`,
        FIELDMESH_BROKER_PORT: '0',
      };
      delete env.FIELDMESH_MQTT_URL;
      const config = await demoConfigWithSettlement(DEMO_PEER_CONFIG, env, options.settlement);
      const agent = new Agent(config, { logger: options.logger.child({ node: name }) });
      peers.push({ name, agent });
      await withDeadline(agent.start(), PEER_JOIN_MS, `${name} did not join the demo site`);
    }
  } catch (err) {
    await stopDemoPeers(peers);
    throw err;
  }
  return peers;
}

/** Stops the peers before the gateway, so none of them sees its broker vanish and elects itself. */
export async function stopDemoPeers(peers: readonly DemoNode[]): Promise<void> {
  await Promise.all(peers.map((p) => p.agent.stop().catch(() => undefined)));
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

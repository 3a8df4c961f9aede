import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { createMeshApiServer, type MeshApiServer } from '../../../agent/mesh/api-server.js';
import { createDiscovery, type Discovery, type DiscoveryInit } from '../../../agent/mesh/discovery.js';
import type { MdnsAnnouncement, MeshMdns } from '../../../agent/mesh/mdns.js';
import { identityFromSeed, type NodeIdentity } from '../../../protocol/identity.js';

export const quietLogger = pino({ level: 'silent' });

/** An mDNS part the test drives by hand: announce() is what a multicast answer would do. */
export class ScriptedMdns extends EventEmitter implements MeshMdns {
  started = false;
  async start(): Promise<void> {
    this.started = true;
  }
  async stop(): Promise<void> {
    this.started = false;
  }
  announce(ann: MdnsAnnouncement): void {
    this.emit('peer', ann);
  }
  override on(event: 'peer', listener: (ann: MdnsAnnouncement) => void): this {
    return super.on(event, listener);
  }
  override off(event: 'peer', listener: (ann: MdnsAnnouncement) => void): this {
    return super.off(event, listener);
  }
}

export interface TestNode {
  readonly identity: NodeIdentity;
  readonly api: MeshApiServer;
  readonly discovery: Discovery;
  readonly mdns: ScriptedMdns;
  stop(): Promise<void>;
}

/** A node with a real mesh API on loopback and discovery driven by a ScriptedMdns. */
export async function startTestNode(
  seed: number,
  init: Partial<DiscoveryInit> = {},
  modelFile: (sha256: string) => string | null = () => null,
): Promise<TestNode> {
  const identity = identityFromSeed(new Uint8Array(32).fill(seed));
  const mdns = new ScriptedMdns();
  let discovery: Discovery | undefined;
  const trustedNodes = init.trustedNodes ?? 'any';
  const api = createMeshApiServer(
    { host: '127.0.0.1', port: 0, trustedNodes },
    {
      identity,
      logger: quietLogger,
      nodeRecord: () => (discovery as Discovery).signedRecord(),
      modelFile,
    },
  );
  await api.start();
  discovery = createDiscovery(
    { mdns: { apiPort: api.port }, trustedNodes, ...init },
    {
      identity,
      logger: quietLogger,
      mdns,
      record: () => ({
        name: `node-${seed}`,
        softwareVersion: '0.1.0',
        apiUrl: api.url,
        brokerUrl: '',
        brokerPriority: seed,
        offloadSlots: 1,
        loadPermille: 0,
        models: [],
      }),
    },
  );
  await discovery.start();
  const started = discovery;
  return {
    identity,
    api,
    discovery: started,
    mdns,
    stop: async () => {
      await started.stop();
      await api.stop();
    },
  };
}

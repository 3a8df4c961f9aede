import { networkInterfaces } from 'node:os';
import type { NodeIdentity } from '../../protocol/identity.js';
import { brokerMode } from '../config/broker-schema.js';
import type { MeshConfig } from '../config/mesh-schema.js';
import type { Config } from '../config/schema.js';
import type { ModelRuntime } from '../infer/model-runtime.js';
import type { Logger } from '../log.js';
import type { MqttLink } from '../mqtt/link.js';
import { nodeName, SOFTWARE_VERSION } from '../node-record.js';
import { OffloadClient } from '../offload/consumer.js';
import { decidePlacement } from '../offload/placement.js';
import { OffloadProvider } from '../offload/provider.js';
import type { VoucherSink } from '../offload/voucher-sink.js';
import type { RemoteLane } from '../pipeline/batch-runner.js';
import type { ReceiptSink } from '../pipeline/receipt-sink.js';
import { createMeshApiServer, type MeshApiServer } from './api-server.js';
import { createDiscovery, type Discovery } from './discovery.js';
import { SiteBroker } from './site-broker.js';

export interface MeshNodeInit {
  readonly mesh: MeshConfig;
  readonly name: string;
  readonly topicRoot: string;
  /** broker.priority when the broker mode is auto; 0 otherwise (this node never hosts). */
  readonly brokerPriority: number;
}

export interface MeshNodeComponents {
  readonly identity: NodeIdentity;
  readonly logger: Logger;
  /** The models loaded here, asked each time (one may be loaded later). */
  models(): readonly ModelRuntime[];
  /** Windows waiting for local models, all pipelines together. */
  queuedWindows(): number;
  /** The broker this node hosts, if any (mode on), for its record. */
  ownBrokerUrl(): string | null;
}

export interface PipelinePlacement {
  readonly placement: 'local' | 'peer' | 'auto';
  readonly maxLocalQueue: number;
}

/**
 * This node's part in the mesh: its mesh API and discovery, the site broker choice (broker:
 * auto), and offloading — taking peers' windows and handing ours to them.
 */
export class MeshNode {
  readonly address: string;
  private readonly log: Logger;
  private api: MeshApiServer | null = null;
  private discovery: Discovery | null = null;
  private site: SiteBroker | null = null;
  private provider: OffloadProvider | null = null;
  private client: OffloadClient | null = null;

  constructor(
    private readonly init: MeshNodeInit,
    private readonly components: MeshNodeComponents,
  ) {
    this.log = components.logger.child({ component: 'mesh' });
    this.address = advertisedAddress(init.mesh.interface);
  }

  get directory(): Discovery {
    if (this.discovery === null) throw new Error('the mesh has not started');
    return this.discovery;
  }

  /** Starts the mesh API and discovery: this node is announced, and peers are verified. */
  async start(): Promise<void> {
    const { mesh } = this.init;
    const { identity, logger } = this.components;
    this.api = createMeshApiServer(
      {
        host: mesh.api.host,
        port: mesh.api.port,
        trustedNodes: mesh.trustedNodes,
        clockSkewMs: mesh.maxSkewMs,
      },
      {
        identity,
        logger: this.log,
        nodeRecord: () => this.directory.signedRecord(),
        modelFile: (sha) => this.components.models().find((m) => m.sha256 === sha)?.file ?? null,
      },
    );
    await this.api.start();
    this.discovery = createDiscovery(
      {
        mdns: {
          apiPort: this.api.port,
          ...(mesh.interface === undefined ? {} : { interface: mesh.interface }),
          port: mesh.mdnsPort,
          serviceTag: mesh.serviceTag,
          queryIntervalMs: mesh.queryIntervalMs,
        },
        trustedNodes: mesh.trustedNodes,
        refreshMs: mesh.refreshMs,
        peerTimeoutMs: mesh.peerTimeoutMs,
        fetchTimeoutMs: Math.min(2_000, mesh.refreshMs),
        maxSkewMs: mesh.maxSkewMs,
        retryMs: mesh.queryIntervalMs,
      },
      { identity, logger, record: () => this.localRecord() },
    );
    await this.discovery.start();
    this.log.info({ api: `http://${this.address}:${this.api.port}` }, 'mesh started');
  }

  /**
   * broker: auto — resolves with the site broker's URL once one is known, hosting it here when
   * elected (startBroker resolves with the URL peers reach it at).
   */
  chooseSiteBroker(hooks: {
    startBroker(): Promise<string>;
    stopBroker(): Promise<void>;
    moved(url: string): void;
  }): Promise<string> {
    this.site = new SiteBroker(
      {
        selfId: this.components.identity.peerId,
        priority: this.init.brokerPriority,
        electionWaitMs: this.init.mesh.electionWaitMs,
      },
      {
        directory: this.directory,
        logger: this.log,
        startBroker: hooks.startBroker,
        stopBroker: hooks.stopBroker,
      },
    );
    this.site.on('changed', hooks.moved);
    return this.site.start();
  }

  /** The MQTT link lost its broker; with broker: auto the host is asked whether it is still up. */
  brokerLost(): void {
    this.site?.lost();
  }

  /** Starts offloading on the link: serving peers (slots > 0) and the client for our pipelines. */
  async startOffload(
    link: MqttLink,
    parts: { receipts?: ReceiptSink; vouchers?: VoucherSink },
  ): Promise<void> {
    const { offload } = this.init.mesh;
    const { identity } = this.components;
    if (offload.slots > 0) {
      this.provider = new OffloadProvider(
        { slots: offload.slots, topicRoot: this.init.topicRoot },
        {
          link,
          identity,
          models: () => this.components.models(),
          receipts: parts.receipts,
          vouchers: parts.vouchers,
          logger: this.log,
        },
      );
      await this.provider.start();
    }
    this.client = new OffloadClient(
      {
        timeoutMs: offload.timeoutMs,
        maxInFlightPerPeer: offload.maxInFlightPerPeer,
        voucherEveryResponses: offload.voucherEvery,
        voucherIntervalMs: offload.voucherIntervalMs,
        topicRoot: this.init.topicRoot,
      },
      { link, identity, peers: this.directory, logger: this.log },
    );
    await this.client.start();
  }

  /**
   * The remote lane of a pipeline, or undefined for placement local. `digest` gives the sha256
   * of the model version peers are asked for (the local version can be swapped while running).
   */
  remoteLane(
    p: PipelinePlacement,
    digest: () => string,
    width: number,
    local: { readonly computeUs: number } | null,
  ): RemoteLane | undefined {
    const client = this.client;
    if (p.placement === 'local' || client === null) return undefined;
    return {
      hasRoom: () => client.bestPeer(digest()) !== null,
      wants: (_busy, depth) => {
        const best = client.bestPeer(digest());
        const decision = decidePlacement(
          {
            placement: p.placement,
            localHasModel: local !== null,
            localQueueDepth: depth,
            localLoadPermille: 0,
            localComputeUs: local?.computeUs ?? 0,
            bestPeer: best === null ? null : { computeUs: best.computeUs, freeSlots: best.freeSlots },
          },
          { maxQueueDepth: p.maxLocalQueue, maxLoadPermille: Number.MAX_SAFE_INTEGER },
        );
        return decision.where === 'peer';
      },
      run: (input, rows, version) => client.run(version ?? digest(), input, rows, width),
    };
  }

  status(): Record<string, unknown> {
    return {
      address: this.address,
      api: this.api?.url,
      peers:
        this.discovery
          ?.peers()
          .map((p) => ({ id: p.peerId, name: p.name, broker: p.brokerUrl, loadPermille: p.loadPermille })) ??
        [],
      discovery: this.discovery?.stats(),
      siteBroker: this.site ? { url: this.site.current, hosting: this.site.hosting !== null } : undefined,
      offload: { provider: this.provider?.stats(), client: this.client?.stats() },
    };
  }

  /** Stops offloading first (a final voucher goes out), then the site broker, discovery, API. */
  async stopOffload(): Promise<void> {
    await this.client
      ?.stop()
      .catch((err: Error) => this.log.warn({ err: err.message }, 'offload client stop'));
    await this.provider?.stop().catch((err: Error) => this.log.warn({ err: err.message }, 'provider stop'));
  }

  async stop(): Promise<void> {
    await this.stopOffload();
    await this.site?.stop();
    await this.discovery?.stop();
    await this.api?.stop();
  }

  private localRecord() {
    const models = this.components.models();
    const slots = this.init.mesh.offload.slots;
    const active = this.provider?.stats().active ?? 0;
    const queued = this.components.queuedWindows();
    return {
      name: this.init.name,
      softwareVersion: SOFTWARE_VERSION,
      apiUrl: `http://${this.address}:${this.api?.port ?? 0}`,
      brokerUrl: this.site?.hosting ?? this.components.ownBrokerUrl() ?? '',
      brokerPriority: this.init.brokerPriority,
      offloadSlots: slots,
      // Requests running for peers and windows waiting here, per slot (docs/mesh.md "Load").
      loadPermille: Math.min(1_000_000, Math.round((1000 * (active + queued / 8)) / Math.max(1, slots))),
      models: models.map((m) => ({
        id: m.id,
        version: m.manifest.version,
        sha256: new Uint8Array(Buffer.from(m.sha256, 'hex')),
        computeUs: m.computeUs,
      })),
    };
  }
}

/** The mesh part of an agent from its configuration. */
export function createMeshNode(config: Readonly<Config>, components: MeshNodeComponents): MeshNode {
  return new MeshNode(
    {
      mesh: config.mesh,
      name: nodeName(config.node.name),
      topicRoot: config.mqtt.topicRoot,
      brokerPriority: brokerMode(config.broker) === 'auto' ? config.broker.priority : 0,
    },
    components,
  );
}

/** The IPv4 address peers reach this node at: the mesh interface, else the first non-loopback one. */
export function advertisedAddress(iface: string | undefined): string {
  if (iface !== undefined) return iface;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

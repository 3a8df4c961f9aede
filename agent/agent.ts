import type { Bridge } from '../broker/bridge/bridge.js';
import type { EmbeddedBroker } from '../broker/embedded-broker.js';
import type { NodeIdentity } from '../protocol/identity.js';
import { loadOrCreateIdentity } from '../protocol/keystore.js';
import { topicsFor } from '../protocol/topics.js';
import { type ActionAnswer, ActivityTracker } from './activity.js';
import { createAgentLink } from './agent-link.js';
import type { AgentStatus } from './agent-status.js';
import { startAgentBridge } from './bridge-setup.js';
import { startAgentBroker } from './broker-setup.js';
import { brokerMode } from './config/broker-schema.js';
import type { Config, ModelConfig } from './config/schema.js';
import { HomeAssistantDiscovery, homeAssistantInit } from './ha/announcer.js';
import type { ModelRuntime } from './infer/model-runtime.js';
import type { Logger } from './log.js';
import { createMeshNode, type MeshNode } from './mesh/mesh-node.js';
import { requestModelFetch, waitingPipelines } from './model-fetch-request.js';
import { loadModel, type MeshContext, modelsToLoad, peerWaitMs } from './model-load.js';
import { ModelSwaps } from './model-swaps.js';
import type { MqttLink } from './mqtt/link.js';
import { type NodeRecord, nodeName, nodeRecordJson, SOFTWARE_VERSION } from './node-record.js';
import { PartFailures } from './part-failures.js';
import type { PipelineObserver } from './pipeline/observer.js';
import type { Pipeline } from './pipeline/pipeline.js';
import { startPipelines } from './pipeline-start.js';
import { AgentReceipts } from './receipts/agent-receipts.js';
import type { ReceiptsStatus } from './receipts/status-file.js';

export type { AgentStatus } from './agent-status.js';
export type { ModelStatus } from './model-swaps.js';
export type { PartFailure } from './part-failures.js';

/**
 * The agent's controller: builds the parts from the frozen config and starts them. Models
 * and pipelines start one by one inside their own try/catch: a refused model takes down
 * only the pipelines that use it, never the others.
 */
export class Agent {
  private identity: NodeIdentity | null = null;
  private broker: EmbeddedBroker | null = null;
  private bridge: Bridge | null = null;
  private link: MqttLink | null = null;
  private mesh: MeshNode | null = null;
  private ha: HomeAssistantDiscovery | null = null;
  private readonly models: ModelSwaps;
  private readonly activities: ActivityTracker;
  private readonly pipelines: Pipeline[] = [];
  private readonly failures: PartFailures;
  private readonly receipts: AgentReceipts;
  private connected = false;
  private mqttUrl = '';

  constructor(
    private readonly config: Readonly<Config>,
    private readonly components: {
      logger: Logger;
      identity?: NodeIdentity;
      /** Manifest watcher timing (tests shorten it). */
      swapWatch?: { debounceMs?: number; pollMs?: number };
      /** Handed to every pipeline (the operator API's latency histogram and recent results). */
      pipelineObserver?: PipelineObserver;
    },
  ) {
    this.activities = new ActivityTracker({}, { logger: components.logger });
    this.failures = new PartFailures(components.logger);
    const { activities, failures } = this;
    this.receipts = new AgentReceipts(config, { logger: components.logger, activities, failures });
    this.models = new ModelSwaps({
      logger: components.logger.child({ component: 'model-swap' }),
      load: (cfg) => this.loadModel(cfg),
      fit: {
        problems: (id, candidate, as) =>
          this.pipelines.filter((p) => p.modelId === id).flatMap((p) => p.swapProblems(candidate, as)),
      },
      changed: () => this.publishRecord('online'),
      ...(components.swapWatch === undefined ? {} : { watch: components.swapWatch }),
    });
  }

  get nodeId(): string {
    if (!this.identity) throw new Error('the agent has not started');
    return this.identity.peerId;
  }

  /** The receipt counts as they stood when the agent stopped (after its last send). */
  get lastReceiptsStatus(): ReceiptsStatus | undefined {
    return this.receipts.latest();
  }

  get brokerUrl(): string | undefined {
    return this.broker?.url;
  }

  async start(): Promise<void> {
    const { config } = this;
    const log = this.components.logger;
    this.identity = this.components.identity ?? (await this.loadIdentity());
    const mode = brokerMode(config.broker);
    if (mode === 'on') this.broker = await this.startEmbeddedBroker();
    if (config.mesh.enabled) {
      this.mesh = createMeshNode(config, {
        identity: this.identity,
        logger: log,
        models: () => this.models.runtimes(),
        queuedWindows: () => this.pipelines.reduce((n, p) => n + p.stats().queueDepth, 0),
        ownBrokerUrl: () => this.broker?.url ?? null,
      });
      await this.mesh.start();
    }
    await this.loadModels();
    await this.receipts.start(this.identity);
    const topics = topicsFor(config.mqtt.topicRoot);
    this.mqttUrl = await this.brokerUrlToUse(mode);
    this.link = createAgentLink(config, {
      identity: this.identity,
      url: this.mqttUrl,
      fieldmeshBroker: mode !== 'off',
      offlineRecord: this.recordJson('offline'),
      logger: log,
    });
    this.link.on('connected', () => {
      this.connected = true;
      this.publishRecord('online');
    });
    this.link.on('disconnected', () => {
      this.connected = false;
      this.mesh?.brokerLost();
    });
    this.ha = new HomeAssistantDiscovery(homeAssistantInit(config, this.identity.peerId), {
      link: this.link,
      logger: log.child({ component: 'home-assistant' }),
    });
    this.ha.start(); // before link.start(): announces on every connect, the first included
    await this.link.start();
    await this.mesh?.startOffload(this.link, this.receipts.forOffload());
    await this.startPipelines(topics);
    await this.models.start();
    await this.startBridge();
    this.publishRecord('online');
    log.info(
      { node: this.identity.peerId, pipelines: this.pipelines.length, failures: this.failures.count },
      'agent ready',
    );
  }

  /** on: our own broker; auto: the site broker the mesh agrees on (maybe ours); off: mqtt.url. */
  private async brokerUrlToUse(mode: 'on' | 'off' | 'auto'): Promise<string> {
    if (this.broker) return this.broker.url;
    if (mode !== 'auto' || !this.mesh) return this.config.mqtt.url;
    const mesh = this.mesh;
    return mesh.chooseSiteBroker({
      startBroker: async () => {
        this.broker = await this.startEmbeddedBroker();
        // Peers reach it at the mesh address, whatever address it listens on.
        return `mqtt://${mesh.address}:${new URL(this.broker.url).port}`;
      },
      stopBroker: async () => {
        const b = this.broker;
        this.broker = null;
        await b?.stop();
      },
      moved: (url) => {
        this.mqttUrl = url;
        this.link?.retarget(url);
      },
    });
  }

  private startEmbeddedBroker(): Promise<EmbeddedBroker> {
    return startAgentBroker(this.config, this.identity as NodeIdentity, this.components.logger);
  }

  async stop(): Promise<void> {
    const log = this.components.logger;
    this.models.stopWatching();
    for (const p of this.pipelines) {
      await p
        .stop()
        .catch((err: Error) => log.warn({ pipeline: p.id, err: err.message }, 'pipeline stop failed'));
      log.info({ pipeline: p.id, stats: p.stats() }, 'pipeline stopped');
    }
    await this.receipts.stop(); // after the pipelines, so that their last receipts are sent
    if (this.link && this.identity) {
      // Not awaited first: with the broker gone a QoS 1 publish never completes; link.stop()
      // waits (bounded) for in-flight QoS 1 and then fails what is left.
      const topic = topicsFor(this.config.mqtt.topicRoot).node(this.identity.peerId);
      const offline = this.link
        .publish(topic, this.recordJson('offline'), { qos: 1, retain: true })
        .catch(() => undefined);
      this.ha?.stop();
      log.info({ counters: this.link.counters() }, 'mqtt link closing');
      await this.mesh?.stopOffload();
      await this.link.stop();
      await offline;
    }
    await this.models.close().catch(() => undefined);
    await this.bridge?.stop().catch((err: Error) => log.warn({ err: err.message }, 'bridge stop failed'));
    await this.mesh?.stop().catch((err: Error) => log.warn({ err: err.message }, 'mesh stop failed'));
    await this.broker?.stop();
  }

  status(): AgentStatus {
    const status: AgentStatus = {
      node: {
        id: this.identity?.peerId ?? '',
        name: nodeName(this.config.node.name),
        version: SOFTWARE_VERSION,
      },
      mqtt: { url: this.mqttUrl, connected: this.connected },
      models: this.models.status(),
      pipelines: this.pipelines.map((p) => p.stats()),
      failures: this.failures.list(),
      activities: this.activities.list(),
    };
    if (this.broker) status.broker = { url: this.broker.url };
    if (this.mesh) status.mesh = this.mesh.status();
    const receipts = this.receipts.status();
    if (receipts) status.receipts = receipts;
    return status;
  }

  /** `POST /v1/receipts/flush`: send the outbox now rather than at the batch timer. */
  flushReceipts(): ActionAnswer {
    return this.receipts.flush();
  }

  /** `POST /v1/models/<id>/fetch`: fetch a configured model this node lacks from a peer, now. */
  fetchModel(id: string): Promise<ActionAnswer> {
    return requestModelFetch(id, {
      models: this.config.models,
      activities: this.activities,
      mesh: this.meshContext(),
      logger: this.components.logger,
      waitMs: peerWaitMs(this.config),
      loaded: (modelId) => this.models.get(modelId) !== undefined,
      fetched: (cfg) => this.modelFetched(cfg),
    });
  }

  /** A model fetched on request: load it, then start the pipelines that waited for it. */
  private async modelFetched(cfg: ModelConfig): Promise<void> {
    this.models.add(cfg, await this.loadModel(cfg));
    this.failures.drop(`model ${cfg.id}`);
    const waiting = waitingPipelines(this.config, cfg.id, this.pipelines);
    for (const id of waiting) this.failures.drop(`pipeline ${id}`);
    await this.startPipelines(topicsFor(this.config.mqtt.topicRoot), waiting);
    this.publishRecord('online');
  }

  private meshContext(): MeshContext | null {
    return this.mesh && this.identity ? { node: this.mesh, identity: this.identity } : null;
  }

  private async loadIdentity(): Promise<NodeIdentity> {
    const { identity, created } = await loadOrCreateIdentity(this.config.node.dataDir);
    if (created) this.components.logger.info({ node: identity.peerId }, 'created a new node identity');
    return identity;
  }

  private async loadModels(): Promise<void> {
    for (const cfg of modelsToLoad(this.config)) {
      try {
        this.models.add(cfg, await this.loadModel(cfg));
      } catch (err) {
        this.failures.fail(`model ${cfg.id}`, err);
      }
    }
  }

  private loadModel(cfg: ModelConfig): Promise<ModelRuntime> {
    const { config, activities } = this;
    return loadModel(cfg, {
      config,
      activities,
      logger: this.components.logger,
      mesh: () => this.meshContext(),
    });
  }

  /** Starts the enabled pipelines, or only those in `only` (they waited for a fetched model). */
  private async startPipelines(
    topics: ReturnType<typeof topicsFor>,
    only?: ReadonlySet<string>,
  ): Promise<void> {
    const started = await startPipelines(
      {
        config: this.config,
        link: this.link as MqttLink,
        models: this.models,
        mesh: this.mesh,
        topics,
        nodeId: this.nodeId,
        logger: this.components.logger,
        failures: this.failures,
        receipts: this.receipts.forPipelines(),
        observer: this.components.pipelineObserver,
      },
      only,
    );
    this.pipelines.push(...started);
  }

  /** The upstream bridge, when configured: a part of its own, whose failure stops nothing else. */
  private async startBridge(): Promise<void> {
    const section = this.config.bridge;
    if (section === undefined || this.identity === null) return;
    try {
      this.bridge = await startAgentBridge(this.config, section, {
        identity: this.identity,
        localUrl: this.broker?.url ?? this.config.mqtt.url,
        logger: this.components.logger,
      });
    } catch (err) {
      this.bridge = null;
      this.failures.fail('bridge', err);
    }
  }

  private recordJson(status: NodeRecord['status']): string {
    return nodeRecordJson(status, {
      id: this.identity?.peerId ?? '',
      name: nodeName(this.config.node.name),
      models: this.models.all().map((s) => s.current),
      pipelines: this.pipelines.map((p) => ({ id: p.id, state: p.stats().state })),
      broker: this.broker?.url,
    });
  }

  private publishRecord(status: NodeRecord['status']): void {
    if (!this.link || !this.identity) return;
    const topic = topicsFor(this.config.mqtt.topicRoot).node(this.identity.peerId);
    this.link.publish(topic, this.recordJson(status), { qos: 1, retain: true }).catch((err: Error) => {
      this.components.logger.warn({ err: err.message }, 'node record not published');
    });
  }
}

import { type Bridge, createBridge } from '../broker/bridge/bridge.js';
import type { EmbeddedBroker } from '../broker/embedded-broker.js';
import { readManifest } from '../models/manifest.js';
import { checkPublisherPolicy } from '../models/publisher.js';
import type { NodeIdentity } from '../protocol/identity.js';
import { loadOrCreateIdentity } from '../protocol/keystore.js';
import { topicsFor } from '../protocol/topics.js';
import { type ActionAnswer, type Activity, ActivityTracker } from './activity.js';
import { createAgentLink } from './agent-link.js';
import { nodeCredentials, startAgentBroker } from './broker-setup.js';
import { createCalibrationStore } from './calibrate/store.js';
import { bridgeInitFromConfig } from './config/bridge-schema.js';
import { brokerMode } from './config/broker-schema.js';
import type { Config, ModelConfig } from './config/schema.js';
import { HomeAssistantDiscovery, homeAssistantInit } from './ha/announcer.js';
import type { ModelRuntime } from './infer/model-runtime.js';
import type { Logger } from './log.js';
import { createMeshNode, type MeshNode } from './mesh/mesh-node.js';
import { loadModelOrFetch } from './mesh/model-on-demand.js';
import { requestModelFetch } from './model-fetch-request.js';
import { type ModelStatus, ModelSwaps } from './model-swaps.js';
import type { MqttLink } from './mqtt/link.js';
import { type NodeRecord, nodeName, nodeRecordJson, SOFTWARE_VERSION } from './node-record.js';
import type { PipelineObserver } from './pipeline/observer.js';
import { Pipeline, type PipelineReceipts, type PipelineStats } from './pipeline/pipeline.js';
import { createReceiptService, type ReceiptService } from './receipts/service.js';
import type { ReceiptsStatus } from './receipts/status-file.js';

export interface PartFailure {
  part: string;
  code: string;
  message: string;
}

export type { ModelStatus } from './model-swaps.js';

export interface AgentStatus {
  node: { id: string; name: string; version: string };
  mqtt: { url: string; connected: boolean };
  broker?: { url: string };
  models: ModelStatus[];
  pipelines: PipelineStats[];
  failures: PartFailure[];
  /** Present when settlement is configured and the receipt parts started. */
  receipts?: ReceiptsStatus & { url: string };
  /** Present when the mesh is enabled: peers, site broker, offload counts. */
  mesh?: Record<string, unknown>;
  /** Long operations in flight (model fetches, outbox drains) and those just finished. */
  activities?: Activity[];
}

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
  private readonly failures: PartFailure[] = [];
  private receipts: ReceiptService | null = null;
  private lastReceipts: ReceiptsStatus | undefined;
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
    return this.receipts?.status() ?? this.lastReceipts;
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
    await this.startReceipts(this.identity);
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
    await this.mesh?.startOffload(this.link, {
      ...(this.receipts ? { receipts: this.receipts.sink, vouchers: this.receipts.vouchers } : {}),
    });
    await this.startPipelines(topics);
    await this.models.start();
    await this.startBridge();
    this.publishRecord('online');
    log.info(
      { node: this.identity.peerId, pipelines: this.pipelines.length, failures: this.failures.length },
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
    // After the pipelines: their last receipts are flushed and, if the service answers, sent.
    await this.receipts?.stop().catch((err: Error) => log.warn({ err: err.message }, 'receipts stop failed'));
    this.lastReceipts = this.receipts?.status();
    this.receipts = null;
    if (this.link && this.identity) {
      // Not awaited first: with the broker gone a QoS 1 publish never completes; link.stop()
      // waits (bounded) for in-flight QoS 1 and then fails what is left.
      const offline = this.link
        .publish(
          topicsFor(this.config.mqtt.topicRoot).node(this.identity.peerId),
          this.recordJson('offline'),
          {
            qos: 1,
            retain: true,
          },
        )
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
      failures: [...this.failures],
      activities: this.activities.list(),
    };
    if (this.broker) status.broker = { url: this.broker.url };
    if (this.mesh) status.mesh = this.mesh.status();
    if (this.receipts && this.config.settlement) {
      status.receipts = { ...this.receipts.status(), url: this.config.settlement.url };
    }
    return status;
  }

  /** `POST /v1/receipts/flush`: send the outbox now rather than at the batch timer. */
  flushReceipts(): ActionAnswer {
    if (!this.receipts) {
      const why = this.config.settlement
        ? 'the receipt parts failed to start (see failures)'
        : 'no settlement section';
      return { accepted: false, status: 503, code: 'RECEIPTS_OFF', reason: `receipts are off: ${why}` };
    }
    const activity = this.receipts.flush();
    if (activity === null) {
      return {
        accepted: false,
        status: 409,
        code: 'RECEIPTS_NONE_PENDING',
        reason: 'no receipts are pending: the outbox is empty',
      };
    }
    return { accepted: true, activity };
  }

  /** `POST /v1/models/<id>/fetch`: fetch a configured model this node lacks from a peer, now. */
  fetchModel(id: string): Promise<ActionAnswer> {
    return requestModelFetch(id, {
      models: this.config.models,
      activities: this.activities,
      mesh: this.mesh && this.identity ? { node: this.mesh, identity: this.identity } : null,
      logger: this.components.logger,
      waitMs: this.peerWaitMs(),
      loaded: (modelId) => this.models.get(modelId) !== undefined,
      fetched: async (cfg) => {
        this.models.add(cfg, await this.loadModel(cfg));
        this.dropFailure(`model ${cfg.id}`);
        const waiting = this.config.pipelines.filter(
          (p) => p.enabled && p.model === cfg.id && !this.pipelines.some((q) => q.id === p.id),
        );
        for (const p of waiting) this.dropFailure(`pipeline ${p.id}`);
        await this.startPipelines(topicsFor(this.config.mqtt.topicRoot), new Set(waiting.map((p) => p.id)));
        this.publishRecord('online');
      },
    });
  }

  private dropFailure(part: string): void {
    const i = this.failures.findIndex((f) => f.part === part);
    if (i >= 0) this.failures.splice(i, 1);
  }

  // Peers need a moment to be found and to load their own models after a site-wide start.
  private peerWaitMs(): number {
    return Math.max(2 * this.config.mesh.electionWaitMs, 5_000);
  }

  private async loadIdentity(): Promise<NodeIdentity> {
    const { identity, created } = await loadOrCreateIdentity(this.config.node.dataDir);
    if (created) this.components.logger.info({ node: identity.peerId }, 'created a new node identity');
    return identity;
  }

  private async loadModels(): Promise<void> {
    const wanted = new Set(this.config.pipelines.filter((p) => p.enabled).map((p) => p.model));
    // A node that serves peers loads every model it has: peers may send windows for any of them.
    const serving = this.config.mesh.enabled && this.config.mesh.offload.slots > 0;
    for (const cfg of this.config.models) {
      if (!wanted.has(cfg.id) && !serving) continue;
      try {
        this.models.add(cfg, await this.loadModel(cfg));
      } catch (err) {
        this.fail(`model ${cfg.id}`, err);
      }
    }
  }

  /**
   * Loads one model once its publisher passes `modelPublishers` (checked on the manifest, before
   * any bytes are fetched or run); with the mesh on, a missing .onnx is fetched from a peer first.
   */
  private async loadModel(cfg: ModelConfig): Promise<ModelRuntime> {
    const { publisher } = await readManifest(cfg.manifest); // a forged signature throws here
    checkPublisherPolicy(publisher, this.config.modelPublishers, cfg.id, cfg.manifest);
    if (publisher.state === 'signed') {
      this.components.logger.info(
        { model: cfg.id, publisher: publisher.id, name: publisher.name },
        'model publisher verified',
      );
    }
    const mesh = this.mesh && this.identity ? { node: this.mesh, identity: this.identity } : null;
    return loadModelOrFetch(cfg, {
      logger: this.components.logger,
      mesh,
      waitMs: this.peerWaitMs(),
      activities: this.activities,
    });
  }

  /**
   * Receipts run only when settlement is configured. A receipt part that cannot start (say the
   * outbox is locked by another agent on the same data dir) is a part failure: the pipelines
   * still run, without receipts, and status and the log say so.
   */
  private async startReceipts(identity: NodeIdentity): Promise<void> {
    const settlement = this.config.settlement;
    if (settlement === undefined) return;
    try {
      const receipts = createReceiptService(
        { settlement, dataDir: this.config.node.dataDir },
        { logger: this.components.logger, identity, activities: this.activities },
      );
      await receipts.start();
      this.receipts = receipts;
    } catch (err) {
      this.fail('receipts', err);
    }
  }

  private pipelineReceipts(): PipelineReceipts | undefined {
    if (!this.receipts || !this.identity) return undefined;
    // Local pipelines run for the site that owns the sensors: this node is its own consumer.
    return { sink: this.receipts.sink, consumerKey: this.identity.publicKey };
  }

  /** Starts the enabled pipelines, or only those in `only` (they waited for a fetched model). */
  private async startPipelines(
    topics: ReturnType<typeof topicsFor>,
    only?: ReadonlySet<string>,
  ): Promise<void> {
    const receipts = this.pipelineReceipts();
    for (const cfg of this.config.pipelines) {
      if (!cfg.enabled || (only !== undefined && !only.has(cfg.id))) continue;
      const model = this.models.get(cfg.model);
      if (!model) {
        this.fail(
          `pipeline ${cfg.id}`,
          new Error(`not started: its model "${cfg.model}" did not load (see above)`),
        );
        continue;
      }
      try {
        const remote = this.mesh?.remoteLane(cfg, () => model.current.sha256, model.windowSize, model);
        const pipeline = new Pipeline(cfg, {
          link: this.link as MqttLink,
          model,
          ...(remote ? { remote } : {}),
          topics,
          nodeId: this.nodeId,
          logger: this.components.logger.child({ component: 'pipeline', pipeline: cfg.id }),
          ...(receipts === undefined ? {} : { receipts }),
          ...(this.components.pipelineObserver ? { observer: this.components.pipelineObserver } : {}),
          ...(cfg.calibration
            ? { calibrationStore: createCalibrationStore(this.config.node.dataDir, cfg.id) }
            : {}),
        });
        await pipeline.start();
        this.pipelines.push(pipeline);
      } catch (err) {
        this.fail(`pipeline ${cfg.id}`, err);
      }
    }
  }

  /** The upstream bridge, when configured: a part of its own, whose failure stops nothing else. */
  private async startBridge(): Promise<void> {
    const section = this.config.bridge;
    if (section === undefined || this.identity === null) return;
    const identity = this.identity;
    try {
      const init = bridgeInitFromConfig(section, {
        nodeId: identity.peerId,
        dataDir: this.config.node.dataDir,
        localUrl: this.broker?.url ?? this.config.mqtt.url,
      });
      const clientId = init.local.clientId;
      if (init.local.username === undefined)
        init.local.credentials = () => nodeCredentials(identity, clientId);
      this.bridge = createBridge(init, { logger: this.components.logger.child({ component: 'bridge' }) });
      await this.bridge.start();
    } catch (err) {
      this.bridge = null;
      this.fail('bridge', err);
    }
  }

  private fail(part: string, err: unknown): void {
    const e = err as Error & { code?: string };
    const failure = { part, code: e.code ?? 'UNEXPECTED', message: e.message };
    this.failures.push(failure);
    this.components.logger.error(failure, `${part} refused`);
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

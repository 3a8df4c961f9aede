import { type Bridge, createBridge } from '../broker/bridge/bridge.js';
import { createEmbeddedBroker, type EmbeddedBroker } from '../broker/embedded-broker.js';
import type { NodeIdentity } from '../protocol/identity.js';
import { topicsFor } from '../protocol/topics.js';
import { embeddedBrokerInit, nodeCredentials } from './broker-setup.js';
import { bridgeInitFromConfig } from './config/bridge-schema.js';
import type { Config } from './config/schema.js';
import { loadOrCreateIdentity } from './identity/keystore.js';
import { ModelRuntime } from './infer/model-runtime.js';
import type { Logger } from './log.js';
import { createMqttLink, type MqttLink } from './mqtt/link.js';
import { type NodeRecord, nodeName, SOFTWARE_VERSION } from './node-record.js';
import { Pipeline, type PipelineReceipts, type PipelineStats } from './pipeline/pipeline.js';
import { createReceiptService, type ReceiptService } from './receipts/service.js';
import type { ReceiptsStatus } from './receipts/status-file.js';

export interface PartFailure {
  part: string;
  code: string;
  message: string;
}

export interface AgentStatus {
  node: { id: string; name: string; version: string };
  mqtt: { url: string; connected: boolean };
  broker?: { url: string };
  models: { id: string; version: string; sha256: string; runs: number; failures: number }[];
  pipelines: PipelineStats[];
  failures: PartFailure[];
  /** Present when settlement is configured and the receipt parts started. */
  receipts?: ReceiptsStatus & { url: string };
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
  private readonly models = new Map<string, ModelRuntime>();
  private readonly pipelines: Pipeline[] = [];
  private readonly failures: PartFailure[] = [];
  private receipts: ReceiptService | null = null;
  private lastReceipts: ReceiptsStatus | undefined;
  private connected = false;
  private mqttUrl = '';

  constructor(
    private readonly config: Readonly<Config>,
    private readonly components: { logger: Logger; identity?: NodeIdentity },
  ) {}

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
    if (config.broker.enabled) {
      const init = await embeddedBrokerInit(config.broker, {
        identity: this.identity,
        dataDir: config.node.dataDir,
        topicRoot: config.mqtt.topicRoot,
      });
      this.broker = createEmbeddedBroker(init, { logger: log.child({ component: 'broker' }) });
      await this.broker.start();
    }
    await this.loadModels();
    await this.startReceipts(this.identity);
    const topics = topicsFor(config.mqtt.topicRoot);
    // An agent that embeds the site broker talks to it directly, wherever it ended up listening.
    const url = this.broker ? this.broker.url : config.mqtt.url;
    this.mqttUrl = url;
    const identity = this.identity;
    const clientId = config.mqtt.clientId ?? `fieldmesh-${identity.peerId}`;
    // Its own broker always, and other brokers unless a username is set: the node key, no secret.
    const nodeLogin = this.broker !== null || (config.mqtt.nodeLogin && config.mqtt.username === undefined);
    this.link = createMqttLink(
      {
        url,
        clientId,
        keepaliveS: config.mqtt.keepaliveS,
        // aedes speaks 3.1.1 only: no MQTT 5 attempt against the broker embedded here.
        protocolVersion: this.broker ? 4 : config.mqtt.protocolVersion,
        reconnect: config.mqtt.reconnect,
        connectTimeoutMs: config.mqtt.connectTimeoutMs,
        ...(this.broker || config.mqtt.tls === undefined ? {} : { tls: config.mqtt.tls }),
        ...(nodeLogin
          ? { credentials: () => nodeCredentials(identity, clientId) }
          : {
              ...(config.mqtt.username === undefined ? {} : { username: config.mqtt.username }),
              ...(config.mqtt.password === undefined ? {} : { password: config.mqtt.password }),
            }),
        will: {
          topic: topics.node(this.identity.peerId),
          payload: this.recordJson('offline'),
          qos: 1,
          retain: true,
        },
      },
      { logger: log.child({ component: 'mqtt' }) },
    );
    this.link.on('connected', () => {
      this.connected = true;
      this.publishRecord('online');
    });
    this.link.on('disconnected', () => {
      this.connected = false;
    });
    await this.link.start();
    await this.startPipelines(topics);
    await this.startBridge();
    this.publishRecord('online');
    log.info(
      { node: this.identity.peerId, pipelines: this.pipelines.length, failures: this.failures.length },
      'agent ready',
    );
  }

  async stop(): Promise<void> {
    const log = this.components.logger;
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
      log.info({ counters: this.link.counters() }, 'mqtt link closing');
      await this.link.stop();
      await offline;
    }
    for (const m of this.models.values()) await m.close().catch(() => undefined);
    await this.bridge?.stop().catch((err: Error) => log.warn({ err: err.message }, 'bridge stop failed'));
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
      models: [...this.models.values()].map((m) => ({
        id: m.id,
        version: m.manifest.version,
        sha256: m.sha256,
        ...m.stats,
      })),
      pipelines: this.pipelines.map((p) => p.stats()),
      failures: [...this.failures],
    };
    if (this.broker) status.broker = { url: this.broker.url };
    if (this.receipts && this.config.settlement) {
      status.receipts = { ...this.receipts.status(), url: this.config.settlement.url };
    }
    return status;
  }

  private async loadIdentity(): Promise<NodeIdentity> {
    const { identity, created } = await loadOrCreateIdentity(this.config.node.dataDir);
    if (created) this.components.logger.info({ node: identity.peerId }, 'created a new node identity');
    return identity;
  }

  private async loadModels(): Promise<void> {
    const wanted = new Set(this.config.pipelines.filter((p) => p.enabled).map((p) => p.model));
    for (const cfg of this.config.models) {
      if (!wanted.has(cfg.id)) continue;
      try {
        this.models.set(cfg.id, await ModelRuntime.load(cfg, { logger: this.components.logger }));
      } catch (err) {
        this.fail(`model ${cfg.id}`, err);
      }
    }
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
        { logger: this.components.logger, identity },
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

  private async startPipelines(topics: ReturnType<typeof topicsFor>): Promise<void> {
    const receipts = this.pipelineReceipts();
    for (const cfg of this.config.pipelines) {
      if (!cfg.enabled) continue;
      const model = this.models.get(cfg.model);
      if (!model) {
        this.fail(
          `pipeline ${cfg.id}`,
          new Error(`not started: its model "${cfg.model}" did not load (see above)`),
        );
        continue;
      }
      try {
        const pipeline = new Pipeline(cfg, {
          link: this.link as MqttLink,
          model,
          topics,
          nodeId: this.nodeId,
          logger: this.components.logger.child({ component: 'pipeline', pipeline: cfg.id }),
          ...(receipts === undefined ? {} : { receipts }),
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
    const record: NodeRecord = {
      id: this.identity?.peerId ?? '',
      name: nodeName(this.config.node.name),
      status,
      version: SOFTWARE_VERSION,
      models: [...this.models.values()].map((m) => ({
        id: m.id,
        version: m.manifest.version,
        sha256: m.sha256,
      })),
      pipelines: this.pipelines.map((p) => ({ id: p.id, state: p.stats().state })),
      ts: Date.now(),
    };
    if (this.broker) record.broker = this.broker.url;
    return JSON.stringify(record);
  }

  private publishRecord(status: NodeRecord['status']): void {
    if (!this.link || !this.identity) return;
    const topic = topicsFor(this.config.mqtt.topicRoot).node(this.identity.peerId);
    this.link.publish(topic, this.recordJson(status), { qos: 1, retain: true }).catch((err: Error) => {
      this.components.logger.warn({ err: err.message }, 'node record not published');
    });
  }
}

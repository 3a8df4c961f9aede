import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NodeIdentity } from '../../protocol/identity.js';
import { loadOrCreateIdentity } from '../../protocol/keystore.js';
import { RateLimiter } from '../../protocol/rate-limit.js';
import { signNode } from '../../protocol/signatures.js';
import { ModelRegistry } from '../spotcheck/registry.js';
import { newSeed } from '../spotcheck/select.js';
import { openStore, type SqlDb } from '../store/db.js';
import { type ClosedEpoch, closeEpoch, EPOCH_DOMAIN_TAG } from '../store/ledger-epochs.js';
import { registerNode } from '../store/ledger-queries.js';
import { migrate } from '../store/schema.js';
import type { ServiceContext, SettlementInit } from './context.js';
import { SettlementStartError } from './errors.js';
import { hex, sendError } from './http-util.js';
import { defaultPageDir } from './page-assets.js';
import { route } from './router.js';
import { nodeKeyOf } from './routes.js';

export interface RegisteredModelSpec {
  /** Path of the model's manifest.json. */
  readonly manifest: string;
  /** Credit per inferred sample (window); default 1. */
  readonly creditPerSample?: number;
}

export interface SettlementComponents {
  readonly logger: Logger;
  /** Holds the service key (node-key.json) and, without databaseUrl, the embedded ledger. */
  readonly dataDir: string;
  /** postgres://…; absent: the embedded store under dataDir. */
  readonly databaseUrl?: string;
  readonly models: readonly RegisteredModelSpec[];
  /** Nodes (PeerId or hex key) registered at start. */
  readonly registerNodes?: readonly string[];
  readonly identity?: NodeIdentity;
  readonly now?: () => number;
  /** The built page (settlement/page/build.ts); default dist/settlement-page in the project. */
  readonly pageDir?: string;
}

export interface SettlementService {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly url: string;
  readonly identity: NodeIdentity;
  /** Closes the open epoch now (also what the timer does). */
  closeEpoch(): Promise<ClosedEpoch>;
  stats(): Record<string, number>;
}

export function createSettlementService(
  init: SettlementInit,
  components: SettlementComponents,
): SettlementService {
  return new Settlement(init, components);
}

class Settlement implements SettlementService {
  private server: Server | undefined;
  private db: SqlDb | undefined;
  private ctx: ServiceContext | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closing: Promise<ClosedEpoch> | undefined;
  private readonly counters = new Map<string, number>();
  private readonly log: Logger;
  private readonly now: () => number;
  private id: NodeIdentity | undefined;
  private address = '';

  constructor(
    private readonly init: SettlementInit,
    private readonly components: SettlementComponents,
  ) {
    this.log = components.logger.child({ component: 'settlement' });
    this.now = components.now ?? Date.now;
  }

  get url(): string {
    return this.address;
  }

  get identity(): NodeIdentity {
    if (this.id === undefined) throw new Error('the settlement service has not started');
    return this.id;
  }

  async start(): Promise<void> {
    const { components: c } = this;
    this.id = c.identity ?? (await loadOrCreateIdentity(c.dataDir)).identity;
    const registry = await this.loadModels();
    this.db = await openStore(c.databaseUrl ? { url: c.databaseUrl } : { dir: join(c.dataDir, 'ledger') });
    try {
      await migrate(this.db, this.now());
      await this.registerNodes(this.db);
      this.ctx = this.context(this.db, registry.registry, registry.credit);
      await this.listen(this.ctx);
    } catch (err) {
      // A service that cannot start releases what it opened, so the process can exit at once.
      await this.stop();
      throw err;
    }
    // Replicas sharing one PostgreSQL run with epochMs 0: exactly one of them closes epochs.
    if (this.init.epochMs > 0) {
      this.timer = setInterval(() => {
        this.closeEpoch().catch((err: Error) =>
          this.log.error({ err: err.message }, 'epoch close failed; retrying at the next tick'),
        );
      }, this.init.epochMs);
      this.timer.unref();
    }
    this.log.info(
      {
        url: this.address,
        peerId: this.id.peerId,
        store: this.db.kind,
        models: registry.registry.list().length,
      },
      'settlement service listening',
    );
  }

  /** Registers every model it can (a bad manifest is logged and skipped), with its credit per sample. */
  private async loadModels() {
    const specs = this.components.models;
    const { registry, loaded } = await ModelRegistry.fromManifests(
      specs.map((m) => m.manifest),
      { logger: this.log },
    );
    const credit = new Map<string, number>();
    for (const { manifestPath, model } of loaded) {
      credit.set(model.sha256, specs.find((m) => m.manifest === manifestPath)?.creditPerSample ?? 1);
    }
    return { registry, credit };
  }

  private async registerNodes(db: SqlDb): Promise<void> {
    for (const node of this.components.registerNodes ?? []) {
      const key = nodeKeyOf(node);
      if (key === undefined)
        throw new SettlementStartError(`cannot register "${node}": not a PeerId (12D3KooW…) or 64-hex key`);
      if (await registerNode(db, key, node, this.now())) this.log.info({ node }, 'node registered');
    }
  }

  private context(db: SqlDb, registry: ModelRegistry, credit: ReadonlyMap<string, number>): ServiceContext {
    const { init } = this;
    return {
      init,
      db,
      identity: this.identity,
      registry,
      log: this.log,
      ingestInit: {
        maxPastMs: init.maxPastMs,
        maxFutureMs: init.maxFutureMs,
        maxReceipts: init.maxReceipts,
        maxBytes: init.maxBodyBytes,
        requireRegistration: init.requireRegistration,
      },
      ingestComponents: {
        db,
        identity: this.identity,
        now: this.now,
        creditPerSample: (digest) => credit.get(digest),
      },
      addressLimiter: new RateLimiter(init.ratePerAddress, this.now),
      nodeLimiter: new RateLimiter(init.ratePerNode, this.now),
      pageDir: this.components.pageDir ?? defaultPageDir(),
      count: (what) => this.counters.set(what, (this.counters.get(what) ?? 0) + 1),
    };
  }

  private async listen(ctx: ServiceContext): Promise<void> {
    const server = createServer((req, res) => this.handle(ctx, req, res));
    server.keepAliveTimeout = 65_000;
    server.requestTimeout = 60_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new SettlementStartError(
            `cannot listen on ${this.init.host}:${this.init.port}: ${err.message}`,
            err,
          ),
        ),
      );
      server.listen(this.init.port, this.init.host, () => resolve());
    });
    const a = server.address();
    const port = typeof a === 'object' && a !== null ? a.port : this.init.port;
    this.address = `http://${this.init.host.includes(':') ? `[${this.init.host}]` : this.init.host}:${port}`;
  }

  private handle(ctx: ServiceContext, req: IncomingMessage, res: ServerResponse): void {
    const info = () => ({
      peerId: this.identity.peerId,
      publicKey: hex(this.identity.publicKey),
      ...this.publicInit(),
    });
    route(ctx, req, res, info).catch((err: Error) => {
      this.log.error({ err: err.message, url: req.url }, 'request failed');
      if (!res.headersSent)
        sendError(
          res,
          503,
          'unavailable',
          'the settlement service could not complete the request; retry later',
        );
      else res.destroy();
    });
  }

  private publicInit() {
    const { epochMs, spotCheckPpm, revealWindowMs, maxBodyBytes, maxReceipts, requireRegistration } =
      this.init;
    return { epochMs, spotCheckPpm, revealWindowMs, maxBodyBytes, maxReceipts, requireRegistration };
  }

  closeEpoch(): Promise<ClosedEpoch> {
    const db = this.db;
    if (db === undefined) return Promise.reject(new Error('the settlement service has not started'));
    // One close at a time; a tick that finds one running waits for it.
    this.closing ??= closeEpoch(db, {
      nowMs: this.now(),
      nextSeed: newSeed(),
      fractionPpm: this.init.spotCheckPpm,
      revealWindowMs: this.init.revealWindowMs,
      sign: (statement) => signNode(EPOCH_DOMAIN_TAG, statement, this.identity.secretKey),
    })
      .then((closed) => {
        this.log.info(
          {
            epoch: closed.epoch,
            rewardRoot: hex(closed.rewardRoot),
            nodes: closed.leafCount,
            challenged: closed.challenged,
            credited: closed.credited,
            voided: closed.voided,
            vouched: closed.vouched,
          },
          'epoch closed',
        );
        return closed;
      })
      .finally(() => {
        this.closing = undefined;
      });
    return this.closing;
  }

  stats(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.closing?.catch(() => undefined);
    const server = this.server;
    if (server) {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    }
    await this.ctx?.registry.close();
    await this.db?.close();
    this.server = undefined;
    this.db = undefined;
  }
}

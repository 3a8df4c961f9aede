import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createDatabase } from '../../bench/lib/postgres-server.js';
import { DEFAULT_SETTLEMENT_INIT, type SettlementInit } from '../../settlement/service/context.js';
import { createSettlementService, type SettlementService } from '../../settlement/service/service.js';
import { openStore, type SqlDb } from '../../settlement/store/db.js';
import type { NodeSummary } from '../../settlement/store/ledger-queries.js';
import { quietLogger } from './broker.js';
import { EXAMPLE_MANIFESTS } from './spotcheck.js';

/**
 * Where a settlement service keeps its state across restarts: its key (dataDir) and a
 * PostgreSQL database of its own on the shared test server. Start, stop and start the service
 * on it again; open the ledger directly to check what was stored.
 */
export interface SettlementHome {
  readonly dataDir: string;
  readonly databaseUrl: string;
}

/** A fresh home; its dataDir goes under `parent` (default the temp dir), for the test to remove. */
export async function createSettlementHome(parent = tmpdir()): Promise<SettlementHome> {
  return {
    dataDir: await mkdtemp(join(parent, 'fm-settlement-e2e-')),
    databaseUrl: await createDatabase(inject('postgresUrl'), `e2e_${randomBytes(6).toString('hex')}`),
  };
}

export interface RunningSettlement {
  readonly service: SettlementService;
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * The real settlement service on `home`, on 127.0.0.1 and `port` (0: a free one), with
 * `manifests` registered (default: the example models) and epochs closed by the test only.
 */
export async function startSettlementOn(
  home: SettlementHome,
  options: { port?: number; init?: Partial<SettlementInit>; manifests?: readonly string[] } = {},
): Promise<RunningSettlement> {
  const service = createSettlementService(
    { ...DEFAULT_SETTLEMENT_INIT, port: options.port ?? 0, epochMs: 3_600_000, ...options.init },
    {
      logger: quietLogger,
      dataDir: home.dataDir,
      databaseUrl: home.databaseUrl,
      models: (options.manifests ?? EXAMPLE_MANIFESTS).map((manifest) => ({ manifest })),
    },
  );
  await service.start();
  let stopped = false;
  return {
    service,
    url: service.url,
    port: Number(new URL(service.url).port),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await service.stop();
    },
  };
}

/** What the ledger holds for one provider, read straight from its tables. */
export interface LedgerFacts {
  /** Every stored receipt: pipeline, sequence, sample count and credit. */
  readonly receipts: readonly { pipeline: string; sequence: number; samples: number; credit: number }[];
  /** fm_status_counts for the provider. */
  readonly statuses: Readonly<Record<string, number>>;
  readonly equivocations: number;
  /** fm_batches rows by state, and the sum of their credit. */
  readonly batches: readonly { state: string; n: number; credit: number; validCount: number }[];
}

export async function ledgerFacts(databaseUrl: string, providerKey: Uint8Array): Promise<LedgerFacts> {
  const db: SqlDb = await openStore({ url: databaseUrl });
  try {
    const key = Buffer.from(providerKey);
    const receipts = await db.query<{ pipeline: string; sequence: number; samples: number; credit: number }>(
      `SELECT pipeline, sequence, sample_count AS samples, credit FROM fm_receipts WHERE provider = $1
       ORDER BY sequence`,
      [key],
    );
    const statuses = await db.query<{ status: string; count: number }>(
      'SELECT status, count FROM fm_status_counts WHERE provider = $1',
      [key],
    );
    const [equivocations] = await db.query<{ n: number }>(
      'SELECT count(*) AS n FROM fm_equivocations WHERE provider = $1',
      [key],
    );
    const batches = await db.query<{ state: string; n: number; credit: number; validCount: number }>(
      `SELECT state, count(*) AS n, coalesce(sum(credit), 0) AS credit,
         coalesce(sum(valid_count), 0) AS "validCount"
       FROM fm_batches WHERE provider = $1 GROUP BY state ORDER BY state`,
      [key],
    );
    return {
      receipts,
      statuses: Object.fromEntries(statuses.map((s) => [s.status, s.count])),
      equivocations: equivocations?.n ?? 0,
      batches,
    };
  } finally {
    await db.close();
  }
}

/** GET /v1/nodes/<node> of a running service, as JSON. */
export async function nodeSummaryOver(url: string, node: string): Promise<NodeAnswer> {
  const res = await fetch(`${url}/v1/nodes/${node}`);
  if (res.status !== 200) throw new Error(`GET /v1/nodes/${node}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as NodeAnswer;
}

/** The JSON of GET /v1/nodes/<node>: the ledger's summary and the node's PeerId. */
export type NodeAnswer = NodeSummary & { readonly node: string };

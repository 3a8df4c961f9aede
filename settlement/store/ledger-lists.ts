import type { Sql } from './db.js';

/**
 * The ledger read as lists, for GET /v1/epochs, /v1/nodes, /v1/nodes/<node>/epochs,
 * /v1/equivocations and /v1/spotchecks and the service's page. Every list is bounded by the
 * caller's limit and pages by keyset (a `before` or `after` key, never an OFFSET), so a page
 * deep in a long ledger costs what the first one does, and a row written between two pages
 * neither repeats nor goes missing.
 *
 * An epoch's credit is not stored as such: a reward leaf holds a node's cumulative credit, so
 * what a close added is the leaf minus the same node's leaf of the epoch before (0 when it had
 * none). Credit never goes down — a credited batch stays credited — so the difference is the
 * credit of that close.
 */

export interface EpochSummaryRow {
  readonly epoch: number;
  readonly openedAtMs: number;
  readonly closedAtMs: number | null;
  readonly leafCount: number | null;
  readonly rewardRoot: Uint8Array | null;
  readonly credit: number;
  readonly totalCredit: number;
  readonly nodesCredited: number;
}

/** Epochs newest first, the open one included; `before` excludes it and everything newer. */
export async function listEpochs(db: Sql, limit: number, before?: number): Promise<EpochSummaryRow[]> {
  const rows = await db.query<{
    epoch: number;
    opened_at_ms: number;
    closed_at_ms: number | null;
    leaf_count: number | null;
    reward_root: Uint8Array | null;
    credit: number;
    total: number;
    nodes: number;
  }>(
    `WITH page AS (
       SELECT epoch, opened_at_ms, closed_at_ms, leaf_count, reward_root FROM fm_epochs
       WHERE $1::bigint IS NULL OR epoch < $1 ORDER BY epoch DESC LIMIT $2
     )
     SELECT p.*, coalesce(sum(c.cumulative), 0) AS total,
       coalesce(sum(c.cumulative - coalesce(prev.cumulative, 0)), 0) AS credit,
       count(c.provider) FILTER (WHERE c.cumulative > coalesce(prev.cumulative, 0)) AS nodes
     FROM page p
     LEFT JOIN fm_epoch_credits c ON c.epoch = p.epoch
     LEFT JOIN fm_epoch_credits prev ON prev.epoch = c.epoch - 1 AND prev.provider = c.provider
     GROUP BY p.epoch, p.opened_at_ms, p.closed_at_ms, p.leaf_count, p.reward_root
     ORDER BY p.epoch DESC`,
    [before ?? null, limit],
  );
  return rows.map((r) => ({
    epoch: r.epoch,
    openedAtMs: r.opened_at_ms,
    closedAtMs: r.closed_at_ms ?? null,
    leafCount: r.leaf_count ?? null,
    rewardRoot: r.reward_root ?? null,
    credit: r.credit,
    totalCredit: r.total,
    nodesCredited: r.nodes,
  }));
}

export interface NodeEpochRow {
  readonly epoch: number;
  readonly closedAtMs: number | null;
  readonly credit: number;
  readonly cumulative: number;
  readonly receipts: number;
}

/**
 * One node's reward leaves, newest first. `receipts` counts what that close credited: the
 * local receipts of the node's batches it credited, and the offloaded receipts it admitted
 * under vouchers.
 */
export async function listNodeEpochs(
  db: Sql,
  providerKey: Uint8Array,
  limit: number,
  before?: number,
): Promise<NodeEpochRow[]> {
  const rows = await db.query<{
    epoch: number;
    closed_at_ms: number | null;
    cumulative: number;
    previous: number | null;
    local: number;
    vouched: number;
  }>(
    `WITH page AS (
       SELECT epoch, cumulative FROM fm_epoch_credits
       WHERE provider = $1 AND ($2::bigint IS NULL OR epoch < $2) ORDER BY epoch DESC LIMIT $3
     )
     SELECT p.epoch, p.cumulative, e.closed_at_ms,
       (SELECT cumulative FROM fm_epoch_credits WHERE provider = $1 AND epoch = p.epoch - 1) AS previous,
       (SELECT count(*) FROM fm_batches b JOIN fm_receipts r ON r.batch_id = b.id
         WHERE b.provider = $1 AND b.state = 'credited' AND b.settled_epoch = p.epoch
           AND r.offload_state IS NULL) AS local,
       (SELECT count(*) FROM fm_receipts r WHERE r.provider = $1 AND r.vouched_epoch = p.epoch) AS vouched
     FROM page p JOIN fm_epochs e ON e.epoch = p.epoch
     ORDER BY p.epoch DESC`,
    [Buffer.from(providerKey), before ?? null, limit],
  );
  return rows.map((r) => ({
    epoch: r.epoch,
    closedAtMs: r.closed_at_ms ?? null,
    credit: r.cumulative - (r.previous ?? 0),
    cumulative: r.cumulative,
    receipts: r.local + r.vouched,
  }));
}

/** Whether the ledger knows the node at all: registered, or ever sent a batch. */
export async function isKnownNode(db: Sql, providerKey: Uint8Array): Promise<boolean> {
  const key = Buffer.from(providerKey);
  const rows = await db.query(
    `SELECT 1 FROM fm_nodes WHERE provider = $1
     UNION ALL SELECT 1 FROM fm_status_counts WHERE provider = $1
     LIMIT 1`,
    [key],
  );
  return rows.length > 0;
}

export interface NodeListRow {
  readonly providerKey: Uint8Array;
  readonly registered: boolean;
  readonly credited: number;
  readonly pending: number;
  readonly voided: number;
  readonly receipts: Record<string, number>;
  readonly openChallenges: number;
  readonly lastEpoch: { epoch: number; cumulative: number } | null;
}

/**
 * Known nodes — registered, or with any receipt judged — ordered by key, after `after`.
 * The same figures as nodeSummary (ledger-queries.ts), for a page of nodes in two statements
 * instead of six per node.
 */
export async function listNodes(db: Sql, limit: number, after?: Uint8Array): Promise<NodeListRow[]> {
  const rows = await db.query<{
    provider: Uint8Array;
    registered: boolean;
    credited: number;
    pending: number;
    voided: number;
    open_challenges: number;
    last_epoch: number | null;
    last_cumulative: number | null;
  }>(
    `WITH page AS (
       SELECT provider FROM (SELECT provider FROM fm_nodes UNION SELECT provider FROM fm_status_counts) k
       WHERE $1::bytea IS NULL OR provider > $1 ORDER BY provider LIMIT $2
     )
     SELECT p.provider,
       EXISTS (SELECT 1 FROM fm_nodes n WHERE n.provider = p.provider) AS registered,
       coalesce(b.credited, 0) + coalesce((SELECT sum(credited) FROM fm_vouchers v
                                           WHERE v.provider = p.provider), 0) AS credited,
       coalesce(b.pending, 0) AS pending, coalesce(b.voided, 0) AS voided,
       (SELECT count(*) FROM fm_challenges c WHERE c.provider = p.provider AND c.state = 'open')
         AS open_challenges,
       last.epoch AS last_epoch, last.cumulative AS last_cumulative
     FROM page p
     LEFT JOIN LATERAL (
       SELECT sum(credit) FILTER (WHERE state = 'credited') AS credited,
         sum(credit) FILTER (WHERE state IN ('open', 'challenged')) AS pending,
         sum(credit) FILTER (WHERE state = 'void') AS voided
       FROM fm_batches WHERE provider = p.provider
     ) b ON true
     LEFT JOIN LATERAL (
       SELECT epoch, cumulative FROM fm_epoch_credits WHERE provider = p.provider
       ORDER BY epoch DESC LIMIT 1
     ) last ON true
     ORDER BY p.provider`,
    [after === undefined ? null : Buffer.from(after), limit],
  );
  const counts = await db.query<{ provider: Uint8Array; status: string; count: number }>(
    'SELECT provider, status, count FROM fm_status_counts WHERE provider = ANY($1::bytea[])',
    [rows.map((r) => Buffer.from(r.provider))],
  );
  const receipts = new Map<string, Record<string, number>>();
  for (const c of counts) {
    const k = Buffer.from(c.provider).toString('hex');
    receipts.set(k, { ...receipts.get(k), [c.status]: c.count });
  }
  return rows.map((r) => ({
    providerKey: r.provider,
    registered: r.registered,
    credited: r.credited,
    pending: r.pending,
    voided: r.voided,
    receipts: receipts.get(Buffer.from(r.provider).toString('hex')) ?? {},
    openChallenges: r.open_challenges,
    lastEpoch:
      r.last_epoch === null || r.last_epoch === undefined
        ? null
        : { epoch: r.last_epoch, cumulative: r.last_cumulative ?? 0 },
  }));
}

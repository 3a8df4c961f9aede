import { encodeReceipt, RECEIPT_VERSION, type Receipt, receiptId } from '../../protocol/receipt.js';
import type { Sql, SqlDb } from './db.js';
import { type OffloadSummary, offloadSummary } from './ledger-offload.js';

/** Reads and small writes of the ledger that are not ingestion or epoch closing. */

export async function openEpoch(db: Sql): Promise<number> {
  const [row] = await db.query<{ epoch: number }>(
    'SELECT epoch FROM fm_epochs WHERE closed_at_ms IS NULL ORDER BY epoch LIMIT 1',
  );
  return row?.epoch ?? 1;
}

export async function registerNode(
  db: Sql,
  providerKey: Uint8Array,
  peerId: string,
  nowMs: number,
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO fm_nodes (provider, peer_id, registered_at_ms) VALUES ($1, $2, $3)
     ON CONFLICT (provider) DO NOTHING RETURNING provider`,
    [Buffer.from(providerKey), peerId, nowMs],
  );
  return rows.length > 0;
}

export async function isRegistered(db: Sql, providerKey: Uint8Array): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM fm_nodes WHERE provider = $1', [Buffer.from(providerKey)]);
  return rows.length > 0;
}

export interface OpenChallenge {
  readonly receiptId: Uint8Array;
  readonly deadlineMs: number;
  /** The challenged receipt's sequence field: the provider finds its tensors by it. */
  readonly sequence: number;
}

export async function openChallenges(
  db: Sql,
  providerKey: Uint8Array,
  limit: number,
): Promise<OpenChallenge[]> {
  const rows = await db.query<{ receipt_id: Uint8Array; deadline_ms: number; sequence: number }>(
    `SELECT c.receipt_id, c.deadline_ms, r.sequence
       FROM fm_challenges c JOIN fm_receipts r ON r.id = c.receipt_id
      WHERE c.provider = $1 AND c.state = 'open'
      ORDER BY c.deadline_ms, c.receipt_id LIMIT $2`,
    [Buffer.from(providerKey), limit],
  );
  return rows.map((r) => ({ receiptId: r.receipt_id, deadlineMs: r.deadline_ms, sequence: r.sequence }));
}

export interface ChallengeRow {
  readonly state: string;
  readonly deadlineMs: number;
  readonly batchId: number;
  readonly receipt: Receipt;
}

interface ReceiptRow {
  state: string;
  deadline_ms: number;
  batch_id: number;
  provider: Uint8Array;
  consumer: Uint8Array;
  pipeline: string;
  sequence: number;
  model: Uint8Array;
  input_digest: Uint8Array;
  output_digest: Uint8Array;
  start_time_ms: number;
  compute_time_us: number;
  sample_count: number;
}

/** The challenge on a receipt, with the receipt rebuilt from its row (and checked against its id). */
export async function findChallenge(db: Sql, id: Uint8Array): Promise<ChallengeRow | undefined> {
  const [row] = await db.query<ReceiptRow>(
    `SELECT c.state, c.deadline_ms, c.batch_id, r.provider, r.consumer, r.pipeline, r.sequence, r.model,
       r.input_digest, r.output_digest, r.start_time_ms, r.compute_time_us, r.sample_count
     FROM fm_challenges c JOIN fm_receipts r ON r.id = c.receipt_id WHERE c.receipt_id = $1`,
    [Buffer.from(id)],
  );
  if (row === undefined) return undefined;
  const receipt: Receipt = {
    version: RECEIPT_VERSION,
    providerKey: row.provider,
    consumerKey: row.consumer,
    pipelineId: row.pipeline,
    sequence: row.sequence,
    modelSha256: row.model,
    inputDigest: row.input_digest,
    outputDigest: row.output_digest,
    startTimeMs: row.start_time_ms,
    computeTimeUs: row.compute_time_us,
    sampleCount: row.sample_count,
  };
  if (Buffer.compare(receiptId(encodeReceipt(receipt)), id) !== 0) {
    throw new Error(`ledger row for receipt ${Buffer.from(id).toString('hex')} does not rebuild its body`);
  }
  return { state: row.state, deadlineMs: row.deadline_ms, batchId: row.batch_id, receipt };
}

/**
 * Records a reveal's outcome. A failed reveal voids the batch at once; a pass leaves the
 * batch for the next epoch close, which credits it when every challenge has passed.
 * Returns false when the challenge was no longer open (answered, or expired meanwhile).
 */
export async function resolveChallenge(
  db: SqlDb,
  receiptId: Uint8Array,
  outcome: { passed: boolean; reason?: string; atMs?: number },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<{ batch_id: number }>(
      `UPDATE fm_challenges SET state = $2, reason = $3, resolved_at_ms = $4
       WHERE receipt_id = $1 AND state = 'open'
       RETURNING batch_id`,
      [
        Buffer.from(receiptId),
        outcome.passed ? 'passed' : 'failed',
        outcome.reason ?? null,
        outcome.atMs ?? Date.now(),
      ],
    );
    const batchId = rows[0]?.batch_id;
    if (batchId === undefined) return false;
    if (!outcome.passed) {
      await tx.query(
        `UPDATE fm_batches SET state = 'void', state_reason = $2 WHERE id = $1 AND state = 'challenged'`,
        [batchId, `failed: ${outcome.reason ?? ''}`],
      );
    }
    return true;
  });
}

export interface NodeSummary {
  readonly registered: boolean;
  readonly receipts: Record<string, number>;
  readonly credited: number;
  readonly pending: number;
  readonly voided: number;
  readonly batches: Record<string, number>;
  readonly openChallenges: number;
  readonly lastEpoch: { epoch: number; cumulative: number } | null;
  /** Work run for other nodes; its credit is part of `credited`. */
  readonly offload: OffloadSummary;
}

export async function nodeSummary(db: Sql, providerKey: Uint8Array): Promise<NodeSummary> {
  const key = Buffer.from(providerKey);
  const counts = await db.query<{ status: string; count: number }>(
    'SELECT status, count FROM fm_status_counts WHERE provider = $1',
    [key],
  );
  const batches = await db.query<{ state: string; n: number; credit: number }>(
    'SELECT state, count(*) AS n, coalesce(sum(credit), 0) AS credit FROM fm_batches WHERE provider = $1 GROUP BY state',
    [key],
  );
  const [challenges] = await db.query<{ n: number }>(
    `SELECT count(*) AS n FROM fm_challenges WHERE provider = $1 AND state = 'open'`,
    [key],
  );
  const [last] = await db.query<{ epoch: number; cumulative: number }>(
    'SELECT epoch, cumulative FROM fm_epoch_credits WHERE provider = $1 ORDER BY epoch DESC LIMIT 1',
    [key],
  );
  const creditIn = (...states: string[]) =>
    batches.filter((b) => states.includes(b.state)).reduce((s, b) => s + b.credit, 0);
  const offload = await offloadSummary(db, providerKey);
  return {
    registered: await isRegistered(db, providerKey),
    receipts: Object.fromEntries(counts.map((c) => [c.status, c.count])),
    credited: creditIn('credited') + offload.credited,
    pending: creditIn('open', 'challenged'),
    voided: creditIn('void'),
    batches: Object.fromEntries(batches.map((b) => [b.state, b.n])),
    openChallenges: challenges?.n ?? 0,
    lastEpoch: last ?? null,
    offload,
  };
}

export interface EpochRow {
  readonly epoch: number;
  readonly openedAtMs: number;
  readonly closedAtMs: number | null;
  /** Revealed once the epoch has closed; null while it is open. */
  readonly seed: Uint8Array | null;
  readonly seedCommitment: Uint8Array | null;
  readonly rewardRoot: Uint8Array | null;
  readonly leafCount: number | null;
  readonly statement: Uint8Array | null;
  readonly signature: Uint8Array | null;
}

/** One epoch; `latest` means the most recently closed one. */
export async function epochInfo(db: Sql, which: number | 'latest'): Promise<EpochRow | undefined> {
  const rows = await db.query<Record<string, unknown>>(
    which === 'latest'
      ? 'SELECT * FROM fm_epochs WHERE closed_at_ms IS NOT NULL ORDER BY epoch DESC LIMIT 1'
      : 'SELECT * FROM fm_epochs WHERE epoch = $1',
    which === 'latest' ? [] : [which],
  );
  const r = rows[0];
  if (r === undefined) return undefined;
  return {
    epoch: r.epoch as number,
    openedAtMs: r.opened_at_ms as number,
    closedAtMs: (r.closed_at_ms as number | null) ?? null,
    seed: r.closed_at_ms == null ? null : ((r.seed as Uint8Array | null) ?? null),
    seedCommitment: (r.seed_commitment as Uint8Array | null) ?? null,
    rewardRoot: (r.reward_root as Uint8Array | null) ?? null,
    leafCount: (r.leaf_count as number | null) ?? null,
    statement: (r.statement as Uint8Array | null) ?? null,
    signature: (r.signature as Uint8Array | null) ?? null,
  };
}

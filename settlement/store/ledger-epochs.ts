import { createHash } from 'node:crypto';
import { encodeCbor } from '../../protocol/cbor.js';
import { inclusionProof, merkleRoot } from '../../protocol/merkle.js';
import { PPM, SPOTCHECK_DOMAIN, selectionThreshold } from '../spotcheck/select.js';
import type { Sql, SqlDb } from './db.js';
import { creditVouchedOffload } from './ledger-offload.js';

/**
 * Closing an epoch (DESIGN.md "Wire protocol"; docs/protocol.md §11):
 *
 *   1. The epoch's seed — drawn when the epoch opened and kept secret, with only its sha256
 *      published, so no provider knew it while making receipts and the service cannot have
 *      picked it after seeing them — picks the receipts to spot-check:
 *      sha256("fieldmesh/spotcheck/v1" ‖ 0x00 ‖ seed ‖ receipt id),
 *      first 8 bytes big-endian, below fraction × 2^64. A batch with a picked receipt waits
 *      for its reveals; a batch without one is credited at once.
 *   2. Challenges past their deadline become `missed`; a challenged batch with a failed or
 *      missed challenge is void, one whose challenges all passed is credited.
 *   3. Offloaded receipts of credited batches are credited up to their consumers' latest
 *      vouchers (ledger-offload.ts).
 *   4. The reward tree: one leaf per provider, CBOR [providerKey, cumulative credit], sorted
 *      by key bytes, RFC 6962 hashing. The service signs the statement
 *      [epoch, openedAtMs, closedAtMs, rewardRoot, leafCount, seed, nextSeedCommitment],
 *      revealing this epoch's seed and committing to the next one's.
 */
export const EPOCH_DOMAIN_TAG = 'fieldmesh/epoch/v1';
const EPOCH_LOCK = 7310002;

export interface CloseEpochInit {
  readonly nowMs: number;
  /** The seed of the epoch this close opens; only its sha256 is published until that epoch closes. */
  readonly nextSeed: Uint8Array;
  readonly fractionPpm: number;
  readonly revealWindowMs: number;
  readonly sign: (statement: Uint8Array) => Uint8Array;
}

export interface ClosedEpoch {
  readonly epoch: number;
  readonly openedAtMs: number;
  readonly closedAtMs: number;
  readonly seed: Uint8Array;
  readonly nextSeedCommitment: Uint8Array;
  readonly rewardRoot: Uint8Array;
  readonly leafCount: number;
  readonly statement: Uint8Array;
  readonly signature: Uint8Array;
  readonly challenged: number;
  readonly credited: number;
  readonly voided: number;
  /** Offloaded receipts this close credited under their consumers' vouchers. */
  readonly vouched: number;
}

/** What an epoch publishes while open: sha256 of its secret seed. */
export function seedCommitment(seed: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(seed).digest());
}

/** The leaf data of one provider in the reward tree. */
export function rewardLeaf(providerKey: Uint8Array, cumulative: number): Uint8Array {
  return encodeCbor([providerKey, cumulative]);
}

/**
 * The selection rule of settlement/spotcheck/select.ts, evaluated by the database: the first
 * 8 bytes of the hash, compared as bytea (bytewise, so big-endian), must sort below the
 * threshold; null selects every receipt.
 */
function thresholdBytes(fractionPpm: number): Buffer | null {
  if (fractionPpm >= PPM) return null;
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(selectionThreshold(fractionPpm));
  return out;
}

function selectionPrefix(seed: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(SPOTCHECK_DOMAIN, 'ascii'), Buffer.from([0]), seed]);
}

export async function closeEpoch(db: SqlDb, init: CloseEpochInit): Promise<ClosedEpoch> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [EPOCH_LOCK]);
    const [open] = await tx.query<{ epoch: number; opened_at_ms: number; seed: Uint8Array | null }>(
      'SELECT epoch, opened_at_ms, seed FROM fm_epochs WHERE closed_at_ms IS NULL ORDER BY epoch LIMIT 1',
    );
    if (open?.seed == null)
      throw new Error('settlement ledger has no open epoch with a seed; the schema was not migrated');
    const seed = open.seed;
    const nextSeedCommitment = seedCommitment(init.nextSeed);
    const challenged = await challengeNewBatches(tx, open.epoch, seed, init);
    const { credited, voided } = await settleBatches(tx, open.epoch, init.nowMs);
    const vouched = await creditVouchedOffload(tx, open.epoch);
    const tree = await writeRewardTree(tx, open.epoch);
    const statement = encodeCbor([
      open.epoch,
      open.opened_at_ms,
      init.nowMs,
      tree.root,
      tree.leafCount,
      seed,
      nextSeedCommitment,
    ]);
    const signature = init.sign(statement);
    await tx.query(
      `UPDATE fm_epochs SET closed_at_ms = $2, reward_root = $3, leaf_count = $4, statement = $5,
         signature = $6 WHERE epoch = $1`,
      [
        open.epoch,
        init.nowMs,
        Buffer.from(tree.root),
        tree.leafCount,
        Buffer.from(statement),
        Buffer.from(signature),
      ],
    );
    await tx.query(
      'INSERT INTO fm_epochs (epoch, opened_at_ms, seed, seed_commitment) VALUES ($1, $2, $3, $4)',
      [open.epoch + 1, init.nowMs, Buffer.from(init.nextSeed), Buffer.from(nextSeedCommitment)],
    );
    return {
      epoch: open.epoch,
      openedAtMs: open.opened_at_ms,
      closedAtMs: init.nowMs,
      seed,
      nextSeedCommitment,
      rewardRoot: tree.root,
      leafCount: tree.leafCount,
      statement,
      signature,
      challenged,
      credited,
      voided,
      vouched,
    };
  });
}

/** Step 1: picks receipts of batches not yet looked at; returns how many were challenged. */
async function challengeNewBatches(
  tx: Sql,
  epoch: number,
  seed: Uint8Array,
  init: CloseEpochInit,
): Promise<number> {
  const threshold = thresholdBytes(init.fractionPpm);
  const picked =
    init.fractionPpm <= 0
      ? []
      : await tx.query<{ id: Uint8Array }>(
          `INSERT INTO fm_challenges (receipt_id, batch_id, provider, epoch, deadline_ms, state)
           SELECT r.id, r.batch_id, r.provider, $1, $2, 'open'
           FROM fm_receipts r JOIN fm_batches b ON b.id = r.batch_id
           WHERE b.state = 'open' AND b.epoch <= $1
             AND ($4::bytea IS NULL OR substr(sha256($3::bytea || r.id), 1, 8) < $4::bytea)
           ON CONFLICT (receipt_id) DO NOTHING
           RETURNING receipt_id AS id`,
          [epoch, init.nowMs + init.revealWindowMs, selectionPrefix(seed), threshold],
        );
  await tx.query(
    `UPDATE fm_batches b SET state = 'challenged'
     WHERE b.state = 'open' AND b.epoch <= $1
       AND EXISTS (SELECT 1 FROM fm_challenges c WHERE c.batch_id = b.id)`,
    [epoch],
  );
  await tx.query(
    `UPDATE fm_batches SET state = 'credited', settled_epoch = $1 WHERE state = 'open' AND epoch <= $1`,
    [epoch],
  );
  return picked.length;
}

/** Step 2: expires overdue challenges, then voids or credits the challenged batches. */
async function settleBatches(
  tx: Sql,
  epoch: number,
  nowMs: number,
): Promise<{ credited: number; voided: number }> {
  await tx.query(
    `UPDATE fm_challenges SET state = 'missed', reason = 'no reveal before the deadline',
       resolved_at_ms = $1
     WHERE state = 'open' AND deadline_ms < $1`,
    [nowMs],
  );
  const voided = await tx.query(
    `UPDATE fm_batches b SET state = 'void', settled_epoch = $1,
       state_reason = (SELECT c.state || ': ' || coalesce(c.reason, '') FROM fm_challenges c
                       WHERE c.batch_id = b.id AND c.state IN ('failed', 'missed') LIMIT 1)
     WHERE b.state = 'challenged'
       AND EXISTS (SELECT 1 FROM fm_challenges c WHERE c.batch_id = b.id AND c.state IN ('failed', 'missed'))
     RETURNING b.id`,
    [epoch],
  );
  const credited = await tx.query(
    `UPDATE fm_batches b SET state = 'credited', settled_epoch = $1
     WHERE b.state IN ('challenged', 'open') AND b.epoch <= $1
       AND NOT EXISTS (SELECT 1 FROM fm_challenges c WHERE c.batch_id = b.id AND c.state <> 'passed')
     RETURNING b.id`,
    [epoch],
  );
  return { credited: credited.length, voided: voided.length };
}

/** Step 3: the reward leaves of this epoch, stored, and their root. */
async function writeRewardTree(tx: Sql, epoch: number): Promise<{ root: Uint8Array; leafCount: number }> {
  const rows = await tx.query<{ provider: Uint8Array; cumulative: number }>(
    `SELECT provider, sum(credit) AS cumulative FROM (
       SELECT provider, credit FROM fm_batches WHERE state = 'credited'
       UNION ALL SELECT provider, credited FROM fm_vouchers WHERE credited > 0
     ) AS c GROUP BY provider ORDER BY provider`,
  );
  if (rows.length > 0) {
    await tx.query(
      `INSERT INTO fm_epoch_credits (epoch, leaf_index, provider, cumulative)
       SELECT $1, leaf_index, provider, cumulative
       FROM unnest($2::int4[], $3::bytea[], $4::int8[]) AS t(leaf_index, provider, cumulative)`,
      [epoch, rows.map((_, i) => i), rows.map((r) => Buffer.from(r.provider)), rows.map((r) => r.cumulative)],
    );
  }
  const root = merkleRoot(rows.map((r) => rewardLeaf(r.provider, r.cumulative)));
  return { root, leafCount: rows.length };
}

export interface RewardProof {
  readonly epoch: number;
  readonly providerKey: Uint8Array;
  readonly cumulative: number;
  readonly leafIndex: number;
  readonly leafCount: number;
  readonly proof: readonly Uint8Array[];
  readonly rewardRoot: Uint8Array;
}

/** A provider's inclusion proof in a closed epoch's reward tree; undefined when it has no leaf. */
export async function rewardProof(
  db: Sql,
  epoch: number,
  providerKey: Uint8Array,
): Promise<RewardProof | undefined> {
  const [closed] = await db.query<{ reward_root: Uint8Array | null }>(
    'SELECT reward_root FROM fm_epochs WHERE epoch = $1',
    [epoch],
  );
  if (closed?.reward_root == null) return undefined;
  const leaves = await db.query<{ provider: Uint8Array; cumulative: number }>(
    'SELECT provider, cumulative FROM fm_epoch_credits WHERE epoch = $1 ORDER BY leaf_index',
    [epoch],
  );
  const index = leaves.findIndex((l) => Buffer.compare(l.provider, providerKey) === 0);
  const leaf = leaves[index];
  if (leaf === undefined) return undefined;
  return {
    epoch,
    providerKey,
    cumulative: leaf.cumulative,
    leafIndex: index,
    leafCount: leaves.length,
    proof: inclusionProof(
      leaves.map((l) => rewardLeaf(l.provider, l.cumulative)),
      index,
    ),
    rewardRoot: closed.reward_root,
  };
}

import { newSeed } from '../spotcheck/select.js';
import type { SqlDb } from './db.js';
import { seedCommitment } from './ledger-epochs.js';

/**
 * The settlement ledger's tables. Plain SQL that PostgreSQL 15 and PGlite both take, so the
 * embedded default and a real server run the very same statements. Keys and ids are raw
 * bytea (32 bytes); times are Unix epoch milliseconds; credits are whole units.
 *
 * A receipt row holds every field of the body, not the body bytes: the encoding is canonical,
 * so the body (and its id) is rebuilt exactly when a spot check needs it, and rows stay small
 * enough for the ingestion rate the service aims at.
 *
 * A receipt row exists only for a receipt judged `valid`: its primary key is the dedup rule
 * (receipt id, never signature bytes) and the unique slot is the equivocation rule
 * (provider, pipeline, sequence). A batch's credit is the sum of its valid receipts' credit,
 * counted in a provider's total only once the batch is `credited` (spot checks passed or
 * none asked).
 */
export const SCHEMA_VERSION = 3;

/**
 * Version 2, offload (docs/settlement.md "Offloaded work"): a receipt whose consumer is not its
 * provider carries `offload_state` — `waiting` for a voucher, `vouched` once credited under one
 * (sticky: credited once, never twice), `refused` when its pipeline is not an offload session.
 * Local receipts keep NULL. Receipts stored before version 2 keep NULL too: they were credited
 * under the old rule and stay so. fm_vouchers holds the latest voucher per (consumer, provider,
 * session) and what the epoch closes have credited under it so far.
 */
const OFFLOAD_STATEMENTS = `
ALTER TABLE fm_receipts ADD COLUMN IF NOT EXISTS offload_state text;
ALTER TABLE fm_receipts ADD COLUMN IF NOT EXISTS vouched_epoch bigint;
CREATE INDEX IF NOT EXISTS fm_receipts_offload ON fm_receipts (provider, pipeline, offload_state)
  WHERE offload_state IS NOT NULL;
CREATE TABLE IF NOT EXISTS fm_vouchers (
  consumer            bytea NOT NULL,
  provider            bytea NOT NULL,
  session_id          bytea NOT NULL,
  pipeline            text NOT NULL,
  sequence            bigint NOT NULL,
  jobs                bigint NOT NULL,
  compute_us          bigint NOT NULL,
  highest_sequence    bigint NOT NULL,
  issued_at_ms        bigint NOT NULL,
  voucher_bytes       bytea NOT NULL,
  signature           bytea NOT NULL,
  received_at_ms      bigint NOT NULL,
  credited_jobs       bigint NOT NULL DEFAULT 0,
  credited_compute_us bigint NOT NULL DEFAULT 0,
  credited            bigint NOT NULL DEFAULT 0,
  equivocations       integer NOT NULL DEFAULT 0,
  PRIMARY KEY (consumer, provider, session_id)
);
CREATE INDEX IF NOT EXISTS fm_vouchers_provider ON fm_vouchers (provider);
CREATE TABLE IF NOT EXISTS fm_voucher_equivocations (
  consumer         bytea NOT NULL,
  provider         bytea NOT NULL,
  session_id       bytea NOT NULL,
  held_bytes       bytea NOT NULL,
  held_signature   bytea NOT NULL,
  other_bytes      bytea NOT NULL,
  other_signature  bytea NOT NULL,
  reason           text NOT NULL,
  detected_at_ms   bigint NOT NULL,
  PRIMARY KEY (consumer, provider, session_id, other_bytes)
);
`;

/**
 * Version 3, the service's own page (docs/settlement.md "The page"): when a challenge stopped
 * being open — its reveal passed or failed, or its deadline passed — so the page and
 * GET /v1/spotchecks can say so. Challenges resolved before version 3 keep NULL: the time
 * was not kept, and a guess would be worse than saying so. The list pages newest epoch first.
 */
const SPOTCHECK_LIST_STATEMENTS = `
ALTER TABLE fm_challenges ADD COLUMN IF NOT EXISTS resolved_at_ms bigint;
CREATE INDEX IF NOT EXISTS fm_challenges_epoch ON fm_challenges (epoch, receipt_id);
`;

const STATEMENTS = `
CREATE TABLE IF NOT EXISTS fm_meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE IF NOT EXISTS fm_nodes (
  provider         bytea PRIMARY KEY,
  peer_id          text NOT NULL,
  registered_at_ms bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS fm_batches (
  id             bigserial PRIMARY KEY,
  header_hash    bytea NOT NULL UNIQUE,
  provider       bytea NOT NULL,
  batch_sequence bigint NOT NULL,
  received_at_ms bigint NOT NULL,
  epoch          bigint NOT NULL,
  receipt_count  integer NOT NULL,
  valid_count    integer NOT NULL,
  credit         bigint NOT NULL,
  state          text NOT NULL,
  state_reason   text,
  settled_epoch  bigint
);
CREATE INDEX IF NOT EXISTS fm_batches_state ON fm_batches (state, epoch);
CREATE INDEX IF NOT EXISTS fm_batches_provider ON fm_batches (provider);
CREATE TABLE IF NOT EXISTS fm_receipts (
  id              bytea PRIMARY KEY,
  provider        bytea NOT NULL,
  pipeline        text NOT NULL,
  sequence        bigint NOT NULL,
  batch_id        bigint NOT NULL,
  model           bytea NOT NULL,
  start_time_ms   bigint NOT NULL,
  compute_time_us bigint NOT NULL,
  sample_count    bigint NOT NULL,
  credit          bigint NOT NULL,
  consumer        bytea NOT NULL,
  input_digest    bytea NOT NULL,
  output_digest   bytea NOT NULL,
  UNIQUE (provider, pipeline, sequence)
);
CREATE INDEX IF NOT EXISTS fm_receipts_batch ON fm_receipts (batch_id);
CREATE TABLE IF NOT EXISTS fm_status_counts (
  provider bytea NOT NULL,
  status   text NOT NULL,
  count    bigint NOT NULL,
  PRIMARY KEY (provider, status)
);
CREATE TABLE IF NOT EXISTS fm_equivocations (
  provider       bytea NOT NULL,
  pipeline       text NOT NULL,
  sequence       bigint NOT NULL,
  kept_id        bytea,
  other_id       bytea NOT NULL,
  other_body     bytea NOT NULL,
  batch_id       bigint NOT NULL,
  detected_at_ms bigint NOT NULL,
  PRIMARY KEY (other_id, batch_id)
);
CREATE TABLE IF NOT EXISTS fm_challenges (
  receipt_id  bytea PRIMARY KEY,
  batch_id    bigint NOT NULL,
  provider    bytea NOT NULL,
  epoch       bigint NOT NULL,
  deadline_ms bigint NOT NULL,
  state       text NOT NULL,
  reason      text
);
CREATE INDEX IF NOT EXISTS fm_challenges_open ON fm_challenges (provider, state);
CREATE TABLE IF NOT EXISTS fm_epochs (
  epoch        bigint PRIMARY KEY,
  opened_at_ms bigint NOT NULL,
  closed_at_ms bigint,
  seed            bytea,
  seed_commitment bytea,
  reward_root  bytea,
  leaf_count   integer,
  statement    bytea,
  signature    bytea
);
CREATE TABLE IF NOT EXISTS fm_epoch_credits (
  epoch      bigint NOT NULL,
  leaf_index integer NOT NULL,
  provider   bytea NOT NULL,
  cumulative bigint NOT NULL,
  PRIMARY KEY (epoch, leaf_index)
);
CREATE INDEX IF NOT EXISTS fm_epoch_credits_provider ON fm_epoch_credits (provider, epoch);
${OFFLOAD_STATEMENTS}
${SPOTCHECK_LIST_STATEMENTS}
`;

/** Creates what is missing; safe to run at every start and from several replicas at once. */
export async function migrate(db: SqlDb, nowMs: number): Promise<void> {
  await db.transaction(async (tx) => {
    // Two replicas starting together on one PostgreSQL must not race on CREATE TABLE.
    await tx.query('SELECT pg_advisory_xact_lock(7310001)');
    for (const statement of STATEMENTS.split(';').map((s) => s.trim())) {
      if (statement !== '') await tx.query(statement);
    }
    // Every statement is idempotent, so an older ledger is brought up to this version in place.
    await tx.query(
      `INSERT INTO fm_meta (key, value) VALUES ('schema_version', $1)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE fm_meta.value::int < excluded.value::int`,
      [String(SCHEMA_VERSION)],
    );
    const seed = newSeed();
    await tx.query(
      `INSERT INTO fm_epochs (epoch, opened_at_ms, seed, seed_commitment) SELECT 1, $1, $2, $3
       WHERE NOT EXISTS (SELECT 1 FROM fm_epochs)`,
      [nowMs, Buffer.from(seed), Buffer.from(seedCommitment(seed))],
    );
  });
}

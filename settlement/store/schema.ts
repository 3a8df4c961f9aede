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
export const SCHEMA_VERSION = 1;

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
`;

/** Creates what is missing; safe to run at every start and from several replicas at once. */
export async function migrate(db: SqlDb, nowMs: number): Promise<void> {
  await db.transaction(async (tx) => {
    // Two replicas starting together on one PostgreSQL must not race on CREATE TABLE.
    await tx.query('SELECT pg_advisory_xact_lock(7310001)');
    for (const statement of STATEMENTS.split(';').map((s) => s.trim())) {
      if (statement !== '') await tx.query(statement);
    }
    await tx.query(
      `INSERT INTO fm_meta (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING`,
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

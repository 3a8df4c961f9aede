import type { ReceiptStatus } from '../../protocol/ack.js';
import type { CheckedSubmission, ReceiptVerdict } from '../verify/verify-submission.js';
import type { Sql } from './db.js';
import { initialOffloadState } from './ledger-offload.js';

/** What the ledger already holds for the receipts of one submission. */
export interface PriorState {
  readonly knownIds: ReadonlySet<string>;
  /** `${pipeline}\0${sequence}` → receipt id hex, for the submitting provider. */
  readonly slots: ReadonlyMap<string, string>;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const slotKey = (pipeline: string, sequence: number): string => `${pipeline}\u0000${sequence}`;

/** A lock number for the provider: ingestion of one provider's batches is serialised. */
export function providerLockId(providerKey: Uint8Array): number {
  return Buffer.from(providerKey).readUIntBE(0, 6);
}

/**
 * 32-byte values travel as one bytea parameter, concatenated, and are cut apart in SQL by
 * `slice32(param, index)`: one native hex conversion instead of escaping a 500-element array
 * element by element in JavaScript, which was most of the service's own time per batch.
 */
function blob32(values: readonly Uint8Array[]): Buffer {
  return Buffer.concat(values as Uint8Array[], values.length * 32);
}
const slice32 = (param: string, index: string): string =>
  `substring(${param}::bytea from ${index} * 32 + 1 for 32)`;

export async function loadPriorState(tx: Sql, checked: CheckedSubmission): Promise<PriorState> {
  const sequences = [...new Set(checked.decoded.flatMap((d) => (d.receipt ? [d.receipt.sequence] : [])))];
  const known = await tx.query<{ id: Uint8Array }>(
    `SELECT r.id FROM generate_series(0, $2::int - 1) AS g(i)
     JOIN fm_receipts r ON r.id = ${slice32('$1', 'g.i')}`,
    [blob32(checked.decoded.map((d) => d.id)), checked.decoded.length],
  );
  const slotRows =
    sequences.length === 0
      ? []
      : await tx.query<{ pipeline: string; sequence: number; id: Uint8Array }>(
          'SELECT pipeline, sequence, id FROM fm_receipts WHERE provider = $1 AND sequence = ANY($2::int8[])',
          [Buffer.from(checked.header.providerKey), sequences],
        );
  return {
    knownIds: new Set(known.map((r) => hex(r.id))),
    slots: new Map(slotRows.map((r) => [slotKey(r.pipeline, r.sequence), hex(r.id)])),
  };
}

export interface BatchRecord {
  readonly headerHash: Uint8Array;
  readonly receivedAtMs: number;
  readonly epoch: number;
  readonly verdicts: readonly ReceiptVerdict[];
  /** Credit of one valid receipt. */
  readonly creditOf: (v: ReceiptVerdict) => number;
}

/**
 * Stores one judged submission: the batch row (once: a replay finds it by header hash), the
 * valid receipts, the equivocating bodies as evidence, and the per-status counters.
 * Returns the batch row id.
 */
export async function storeBatch(tx: Sql, checked: CheckedSubmission, rec: BatchRecord): Promise<number> {
  const provider = Buffer.from(checked.header.providerKey);
  const valid = rec.verdicts.filter((v) => v.status === 'valid');
  // A batch's own credit is its local work; offloaded work is credited under vouchers at the
  // epoch close (ledger-offload.ts), never through the batch.
  const credit = valid
    .filter((v) => v.receipt !== undefined && initialOffloadState(v.receipt) === null)
    .reduce((sum, v) => sum + rec.creditOf(v), 0);
  const inserted = await tx.query<{ id: number }>(
    `INSERT INTO fm_batches (header_hash, provider, batch_sequence, received_at_ms, epoch,
       receipt_count, valid_count, credit, state)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open')
     ON CONFLICT (header_hash) DO NOTHING RETURNING id`,
    [
      Buffer.from(rec.headerHash),
      provider,
      checked.header.batchSequence,
      rec.receivedAtMs,
      rec.epoch,
      rec.verdicts.length,
      valid.length,
      credit,
    ],
  );
  const batchId =
    inserted[0]?.id ??
    (
      await tx.query<{ id: number }>('SELECT id FROM fm_batches WHERE header_hash = $1', [
        Buffer.from(rec.headerHash),
      ])
    )[0]?.id ??
    0;
  if (valid.length > 0) await insertReceipts(tx, provider, batchId, valid, rec.creditOf);
  await insertEquivocations(tx, provider, batchId, rec);
  await countStatuses(tx, provider, rec.verdicts);
  return batchId;
}

async function insertReceipts(
  tx: Sql,
  provider: Buffer,
  batchId: number,
  valid: readonly ReceiptVerdict[],
  creditOf: (v: ReceiptVerdict) => number,
): Promise<void> {
  const col = <T>(f: (v: ReceiptVerdict & { receipt: NonNullable<ReceiptVerdict['receipt']> }) => T): T[] =>
    valid.map((v) => f(v as ReceiptVerdict & { receipt: NonNullable<ReceiptVerdict['receipt']> }));
  await tx.query(
    `INSERT INTO fm_receipts (id, provider, pipeline, sequence, batch_id, model, start_time_ms,
       compute_time_us, sample_count, credit, consumer, input_digest, output_digest, offload_state)
     SELECT ${slice32('$1', 'i')}, $2, pipeline, sequence, $3, ${slice32('$6', 'i')}, start_time_ms,
       compute_time_us, sample_count, credit, ${slice32('$11', 'i')}, ${slice32('$12', 'i')}, ${slice32('$13', 'i')},
       offload_state
     FROM unnest($4::text[], $5::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $14::text[])
       WITH ORDINALITY AS t(pipeline, sequence, start_time_ms, compute_time_us, sample_count, credit,
         offload_state, n)
       CROSS JOIN LATERAL (SELECT (t.n - 1)::int AS i) AS ix`,
    [
      blob32(col((v) => v.id)),
      provider,
      batchId,
      col((v) => v.receipt.pipelineId),
      col((v) => v.receipt.sequence),
      blob32(col((v) => v.receipt.modelSha256)),
      col((v) => v.receipt.startTimeMs),
      col((v) => v.receipt.computeTimeUs),
      col((v) => v.receipt.sampleCount),
      col((v) => creditOf(v)),
      blob32(col((v) => v.receipt.consumerKey)),
      blob32(col((v) => v.receipt.inputDigest)),
      blob32(col((v) => v.receipt.outputDigest)),
      col((v) => initialOffloadState(v.receipt)),
    ],
  );
}

async function insertEquivocations(
  tx: Sql,
  provider: Buffer,
  batchId: number,
  rec: BatchRecord,
): Promise<void> {
  for (const v of rec.verdicts) {
    if (v.status !== 'equivocation' || v.receipt === undefined) continue;
    await tx.query(
      `INSERT INTO fm_equivocations (provider, pipeline, sequence, kept_id, other_id, other_body, batch_id,
         detected_at_ms)
       VALUES ($1, $2, $3,
         (SELECT id FROM fm_receipts WHERE provider = $1 AND pipeline = $2 AND sequence = $3),
         $4, $5, $6, $7)
       ON CONFLICT DO NOTHING`,
      [
        provider,
        v.receipt.pipelineId,
        v.receipt.sequence,
        Buffer.from(v.id),
        Buffer.from(v.body),
        batchId,
        rec.receivedAtMs,
      ],
    );
  }
}

async function countStatuses(tx: Sql, provider: Buffer, verdicts: readonly ReceiptVerdict[]): Promise<void> {
  const counts = new Map<ReceiptStatus, number>();
  for (const v of verdicts) counts.set(v.status, (counts.get(v.status) ?? 0) + 1);
  await tx.query(
    `INSERT INTO fm_status_counts (provider, status, count)
     SELECT $1, status, n FROM unnest($2::text[], $3::int8[]) AS t(status, n)
     ON CONFLICT (provider, status) DO UPDATE SET count = fm_status_counts.count + excluded.count`,
    [provider, [...counts.keys()], [...counts.values()]],
  );
}

import { decodeReceipt, type Receipt } from '../../protocol/receipt.js';
import type { Sql } from './db.js';

/**
 * What the ledger flagged, as lists (GET /v1/equivocations, GET /v1/spotchecks): receipts a
 * provider signed twice over for one slot, and the spot checks with how each ended. Newest
 * first, bounded, paged by keyset like ledger-lists.ts.
 */

export interface EquivocationRow {
  readonly providerKey: Uint8Array;
  readonly pipeline: string;
  readonly sequence: number;
  readonly keptId: Uint8Array | null;
  readonly otherId: Uint8Array;
  readonly batchId: number;
  readonly detectedAtMs: number;
  readonly differs: string[];
}

/** Orders equivocations: detection time, then batch, then the other body's id. */
export interface EquivocationKey {
  readonly detectedAtMs: number;
  readonly batchId: number;
  readonly otherId: Uint8Array;
}

/** The fields of a receipt body that two bodies for one slot may disagree on. */
const COMPARED: readonly (keyof Receipt)[] = [
  'consumerKey',
  'modelSha256',
  'inputDigest',
  'outputDigest',
  'startTimeMs',
  'computeTimeUs',
  'sampleCount',
];

export async function listEquivocations(
  db: Sql,
  limit: number,
  before?: EquivocationKey,
): Promise<EquivocationRow[]> {
  const rows = await db.query<{
    provider: Uint8Array;
    pipeline: string;
    sequence: number;
    kept_id: Uint8Array | null;
    other_id: Uint8Array;
    other_body: Uint8Array;
    batch_id: number;
    detected_at_ms: number;
    consumer: Uint8Array | null;
    model: Uint8Array | null;
    input_digest: Uint8Array | null;
    output_digest: Uint8Array | null;
    start_time_ms: number | null;
    compute_time_us: number | null;
    sample_count: number | null;
  }>(
    `SELECT e.*, k.consumer, k.model, k.input_digest, k.output_digest, k.start_time_ms,
       k.compute_time_us, k.sample_count
     FROM fm_equivocations e LEFT JOIN fm_receipts k ON k.id = e.kept_id
     WHERE $1::bigint IS NULL OR (e.detected_at_ms, e.batch_id, e.other_id) < ($1, $2, $3::bytea)
     ORDER BY e.detected_at_ms DESC, e.batch_id DESC, e.other_id DESC LIMIT $4`,
    [
      before?.detectedAtMs ?? null,
      before?.batchId ?? null,
      before === undefined ? null : Buffer.from(before.otherId),
      limit,
    ],
  );
  return rows.map((r) => {
    // The kept receipt's columns are NOT NULL: one is null only when no kept row was joined.
    const kept: Partial<Receipt> | null =
      r.consumer === null
        ? null
        : {
            consumerKey: r.consumer,
            modelSha256: r.model as Uint8Array,
            inputDigest: r.input_digest as Uint8Array,
            outputDigest: r.output_digest as Uint8Array,
            startTimeMs: r.start_time_ms as number,
            computeTimeUs: r.compute_time_us as number,
            sampleCount: r.sample_count as number,
          };
    return {
      providerKey: r.provider,
      pipeline: r.pipeline,
      sequence: r.sequence,
      keptId: r.kept_id,
      otherId: r.other_id,
      batchId: r.batch_id,
      detectedAtMs: r.detected_at_ms,
      differs: kept === null ? [] : differences(kept, r.other_body),
    };
  });
}

/** Which fields the evidence body has other than the kept receipt's; ['body'] if it will not decode. */
function differences(kept: Partial<Receipt>, otherBody: Uint8Array): string[] {
  let other: Receipt;
  try {
    other = decodeReceipt(otherBody);
  } catch {
    return ['body'];
  }
  return COMPARED.filter((f) => !same(kept[f], other[f]));
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  return a === b;
}

export interface SpotCheckRow {
  readonly providerKey: Uint8Array;
  readonly receiptId: Uint8Array;
  readonly pipeline: string | null;
  readonly epoch: number;
  readonly openedAtMs: number | null;
  readonly deadlineMs: number;
  readonly state: string;
  readonly resolvedAtMs: number | null;
  readonly reason: string | null;
}

/** Orders spot checks: the epoch whose close opened them, then receipt id. */
export interface SpotCheckKey {
  readonly epoch: number;
  readonly receiptId: Uint8Array;
}

export async function listSpotChecks(db: Sql, limit: number, before?: SpotCheckKey): Promise<SpotCheckRow[]> {
  const rows = await db.query<{
    provider: Uint8Array;
    receipt_id: Uint8Array;
    pipeline: string | null;
    epoch: number;
    opened_at_ms: number | null;
    deadline_ms: number;
    state: string;
    resolved_at_ms: number | null;
    reason: string | null;
  }>(
    `SELECT c.provider, c.receipt_id, r.pipeline, c.epoch, e.closed_at_ms AS opened_at_ms,
       c.deadline_ms, c.state, c.resolved_at_ms, c.reason
     FROM fm_challenges c
     LEFT JOIN fm_receipts r ON r.id = c.receipt_id
     LEFT JOIN fm_epochs e ON e.epoch = c.epoch
     WHERE $1::bigint IS NULL OR (c.epoch, c.receipt_id) < ($1, $2::bytea)
     ORDER BY c.epoch DESC, c.receipt_id DESC LIMIT $3`,
    [before?.epoch ?? null, before === undefined ? null : Buffer.from(before.receiptId), limit],
  );
  return rows.map((r) => ({
    providerKey: r.provider,
    receiptId: r.receipt_id,
    pipeline: r.pipeline ?? null,
    epoch: r.epoch,
    openedAtMs: r.opened_at_ms ?? null,
    deadlineMs: r.deadline_ms,
    state: r.state,
    resolvedAtMs: r.resolved_at_ms ?? null,
    reason: r.reason ?? null,
  }));
}

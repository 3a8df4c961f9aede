import { offloadPipelineId, sessionIdOfPipelineId } from '../../protocol/offload.js';
import type { Receipt } from '../../protocol/receipt.js';
import type { Sql } from './db.js';

/**
 * Credit for offloaded work (docs/settlement.md "Offloaded work"). A receipt whose consumer is
 * not its provider was run for another node; it earns credit only under a voucher that consumer
 * signed for the session its pipeline id names, and only up to what that voucher states.
 *
 * The cap is applied when an epoch closes, not at ingest: vouchers arrive before or after the
 * receipts they cover, and a later voucher raises the cap. Each close, inside its transaction
 * and under the epoch lock, admits the still-waiting receipts of credited batches, per session
 * in sequence order, while the session's credited totals stay within the latest voucher
 * (receipt sequence ≤ highestReceiptSequence, receipts ≤ jobs, Σ computeTimeUs ≤ computeUs).
 * An admitted receipt becomes `vouched` for good, so raising the cap credits only the rest.
 */

/** Where a receipt stands for offload credit; null for local work (consumer = provider). */
export type OffloadState = 'waiting' | 'vouched' | 'refused';

/**
 * The 16-byte session id of an offload pipeline id (`offload/` + 32 lower-case hex digits), or
 * undefined for any other pipeline id.
 */
export function offloadSessionOf(pipelineId: string): Uint8Array | undefined {
  return sessionIdOfPipelineId(pipelineId) ?? undefined;
}

/** The pipeline id of an offload session: `offload/` + the session id in lower-case hex. */
export function offloadPipelineOf(sessionId: Uint8Array): string {
  return offloadPipelineId(sessionId);
}

/** The offload state a newly stored receipt starts in. */
export function initialOffloadState(receipt: Receipt): OffloadState | null {
  if (Buffer.compare(receipt.consumerKey, receipt.providerKey) === 0) return null;
  return offloadSessionOf(receipt.pipelineId) === undefined ? 'refused' : 'waiting';
}

export const OFFLOAD_REFUSED_REASON =
  'the consumer is another node but the pipeline id is not an offload session (offload/<32 hex>); never credited';

/** Close step: credits the waiting receipts the latest vouchers cover. Returns receipts admitted. */
export async function creditVouchedOffload(tx: Sql, epoch: number): Promise<number> {
  const rows = await tx.query<{ n: number }>(
    `WITH cand AS (
       SELECT r.id, r.credit, r.compute_time_us, v.consumer, v.provider, v.session_id,
              v.jobs - v.credited_jobs AS room_jobs, v.compute_us - v.credited_compute_us AS room_us,
              row_number() OVER w AS n, sum(r.compute_time_us) OVER w AS used_us
       FROM fm_vouchers v
       JOIN fm_receipts r ON r.provider = v.provider AND r.pipeline = v.pipeline AND r.consumer = v.consumer
       JOIN fm_batches b ON b.id = r.batch_id
       WHERE r.offload_state = 'waiting' AND b.state = 'credited' AND r.sequence <= v.highest_sequence
       WINDOW w AS (PARTITION BY v.consumer, v.provider, v.session_id ORDER BY r.sequence, r.id
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
     ), admitted AS (
       UPDATE fm_receipts r SET offload_state = 'vouched', vouched_epoch = $1
       FROM cand c
       WHERE r.id = c.id AND r.offload_state = 'waiting' AND c.n <= c.room_jobs AND c.used_us <= c.room_us
       RETURNING c.consumer, c.provider, c.session_id, c.credit, c.compute_time_us
     ), totals AS (
       SELECT consumer, provider, session_id, count(*) AS jobs, sum(compute_time_us) AS us,
              sum(credit) AS credit
       FROM admitted GROUP BY consumer, provider, session_id
     ), updated AS (
       UPDATE fm_vouchers v SET credited_jobs = v.credited_jobs + t.jobs,
         credited_compute_us = v.credited_compute_us + t.us, credited = v.credited + t.credit
       FROM totals t
       WHERE v.consumer = t.consumer AND v.provider = t.provider AND v.session_id = t.session_id
       RETURNING t.jobs
     )
     SELECT coalesce(sum(jobs), 0) AS n FROM updated`,
    [epoch],
  );
  return rows[0]?.n ?? 0;
}

export interface OffloadSummary {
  /** Sessions with a voucher naming this provider. */
  readonly sessions: number;
  /** Receipts and credit admitted under vouchers. */
  readonly vouchedReceipts: number;
  readonly credited: number;
  /** Receipts of credited batches no voucher covers (yet): their credit is withheld. */
  readonly withheldReceipts: number;
  readonly withheldCredit: number;
  /** Receipts for another consumer outside an offload session: never credited. */
  readonly refusedReceipts: number;
  readonly refusedReason: string;
  /** Vouchers that contradicted the one held (consumer equivocation), over all sessions. */
  readonly voucherEquivocations: number;
}

export async function offloadSummary(db: Sql, providerKey: Uint8Array): Promise<OffloadSummary> {
  const key = Buffer.from(providerKey);
  const [v] = await db.query<{ sessions: number; jobs: number; credited: number; eq: number }>(
    `SELECT count(*) AS sessions, coalesce(sum(credited_jobs), 0) AS jobs,
       coalesce(sum(credited), 0) AS credited, coalesce(sum(equivocations), 0) AS eq
     FROM fm_vouchers WHERE provider = $1`,
    [key],
  );
  const [r] = await db.query<{ withheld: number; withheld_credit: number; refused: number }>(
    `SELECT count(*) FILTER (WHERE r.offload_state = 'waiting' AND b.state = 'credited') AS withheld,
       coalesce(sum(r.credit) FILTER (WHERE r.offload_state = 'waiting' AND b.state = 'credited'), 0)
         AS withheld_credit,
       count(*) FILTER (WHERE r.offload_state = 'refused') AS refused
     FROM fm_receipts r JOIN fm_batches b ON b.id = r.batch_id
     WHERE r.provider = $1 AND r.offload_state IN ('waiting', 'refused')`,
    [key],
  );
  return {
    sessions: v?.sessions ?? 0,
    vouchedReceipts: v?.jobs ?? 0,
    credited: v?.credited ?? 0,
    withheldReceipts: r?.withheld ?? 0,
    withheldCredit: r?.withheld_credit ?? 0,
    refusedReceipts: r?.refused ?? 0,
    refusedReason: OFFLOAD_REFUSED_REASON,
    voucherEquivocations: v?.eq ?? 0,
  };
}

import { createHash } from 'node:crypto';
import {
  compareVouchers,
  decodeVoucher,
  type SignedVoucher,
  type Voucher,
  VoucherError,
  verifyVoucher,
} from '../../protocol/voucher.js';
import type { Sql, SqlDb } from './db.js';
import { offloadPipelineOf } from './ledger-offload.js';
import { isRegistered } from './ledger-queries.js';

/**
 * Storing submitted vouchers (docs/settlement.md "Vouchers"). A voucher is signed by the
 * consumer and names the provider in its signed body, so whoever relays it cannot change whom
 * it credits or by how much: no submitter authentication is needed. The ledger keeps the latest
 * voucher per (consumer, provider, session) by compareVouchers; one that contradicts the held
 * voucher is consumer equivocation, kept as evidence (both signed bodies) and counted.
 */
export type VoucherStatus = 'stored' | 'stale' | 'invalid' | 'malformed' | 'bad_signature' | 'unknown_node';

export interface VoucherResult {
  readonly status: VoucherStatus;
  readonly detail?: string;
  /** The provider the voucher names, once it decoded. */
  readonly provider?: Uint8Array;
}

export interface StoreVoucherInit {
  readonly nowMs: number;
  /** Only vouchers naming a registered provider are taken. */
  readonly requireRegistration: boolean;
}

interface HeldRow {
  voucher_bytes: Uint8Array;
  signature: Uint8Array;
}

/** A lock number per session: concurrent submissions of one session's vouchers run one at a time. */
function sessionLockId(v: Voucher): number {
  const h = createHash('sha256').update(v.consumerKey).update(v.providerKey).update(v.sessionId).digest();
  return h.readUIntBE(0, 6);
}

/** Verifies one signed voucher and keeps it if it is the latest of its session. Never throws on bad input. */
export async function storeVoucher(
  db: SqlDb,
  signed: SignedVoucher,
  init: StoreVoucherInit,
): Promise<VoucherResult> {
  let voucher: Voucher;
  try {
    voucher = verifyVoucher(signed);
  } catch (err) {
    if (!(err instanceof VoucherError)) throw err;
    return {
      status: err.code === 'VOUCHER_SIGNATURE_INVALID' ? 'bad_signature' : 'malformed',
      detail: err.message,
    };
  }
  const provider = voucher.providerKey;
  if (init.requireRegistration && !(await isRegistered(db, provider))) {
    return {
      status: 'unknown_node',
      provider,
      detail: `provider ${Buffer.from(provider).toString('hex')} is not registered with this service`,
    };
  }
  const result = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [sessionLockId(voucher)]);
    const [held] = await tx.query<HeldRow>(
      `SELECT voucher_bytes, signature FROM fm_vouchers
       WHERE consumer = $1 AND provider = $2 AND session_id = $3`,
      [Buffer.from(voucher.consumerKey), Buffer.from(provider), Buffer.from(voucher.sessionId)],
    );
    if (held === undefined) return insertVoucher(tx, voucher, signed, init.nowMs);
    return replaceOrFlag(tx, voucher, signed, held, init.nowMs);
  });
  return { ...result, provider };
}

async function insertVoucher(
  tx: Sql,
  v: Voucher,
  signed: SignedVoucher,
  nowMs: number,
): Promise<Omit<VoucherResult, 'provider'>> {
  await tx.query(
    `INSERT INTO fm_vouchers (consumer, provider, session_id, pipeline, sequence, jobs, compute_us,
       highest_sequence, issued_at_ms, voucher_bytes, signature, received_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [...voucherKeys(v), offloadPipelineOf(v.sessionId), ...voucherValues(v, signed, nowMs)],
  );
  return { status: 'stored' };
}

async function replaceOrFlag(
  tx: Sql,
  v: Voucher,
  signed: SignedVoucher,
  held: HeldRow,
  nowMs: number,
): Promise<Omit<VoucherResult, 'provider'>> {
  const keys = voucherKeys(v);
  // The held bytes were verified when they were stored; decoding them again is enough.
  const verdict = compareVouchers(v, decodeVoucher(held.voucher_bytes));
  if (verdict.verdict === 'supersedes') {
    // Only the voucher columns: what closes have credited under the session stays as it is.
    await tx.query(
      `UPDATE fm_vouchers SET sequence = $4, jobs = $5, compute_us = $6, highest_sequence = $7,
         issued_at_ms = $8, voucher_bytes = $9, signature = $10, received_at_ms = $11
       WHERE consumer = $1 AND provider = $2 AND session_id = $3`,
      [...keys, ...voucherValues(v, signed, nowMs)],
    );
    return { status: 'stored' };
  }
  if (verdict.verdict !== 'invalid') return { status: 'stale' };
  const evidence = await tx.query(
    `INSERT INTO fm_voucher_equivocations (consumer, provider, session_id, held_bytes, held_signature,
       other_bytes, other_signature, reason, detected_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT DO NOTHING RETURNING 1`,
    [
      ...keys,
      Buffer.from(held.voucher_bytes),
      Buffer.from(held.signature),
      Buffer.from(signed.voucherBytes),
      Buffer.from(signed.signature),
      verdict.reason,
      nowMs,
    ],
  );
  // Counted once per contradicting voucher, however often it is relayed.
  if (evidence.length > 0) {
    await tx.query(
      `UPDATE fm_vouchers SET equivocations = equivocations + 1
       WHERE consumer = $1 AND provider = $2 AND session_id = $3`,
      keys,
    );
  }
  return {
    status: 'invalid',
    detail: `consumer equivocation: ${verdict.reason}; the held voucher ${decodeVoucher(held.voucher_bytes).sequence} stays`,
  };
}

/** consumer, provider, session_id: the key of a row of fm_vouchers. */
function voucherKeys(v: Voucher): Buffer[] {
  return [Buffer.from(v.consumerKey), Buffer.from(v.providerKey), Buffer.from(v.sessionId)];
}

/** sequence … received_at_ms, in the column order both the insert and the update use. */
function voucherValues(v: Voucher, signed: SignedVoucher, nowMs: number): (number | Buffer)[] {
  return [
    v.sequence,
    v.jobs,
    v.computeUs,
    v.highestReceiptSequence,
    v.issuedAtMs,
    Buffer.from(signed.voucherBytes),
    Buffer.from(signed.signature),
    nowMs,
  ];
}

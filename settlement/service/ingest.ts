import { type AckEntry, batchHeaderHash, type SignedAck, signAck } from '../../protocol/ack.js';
import type { NodeIdentity } from '../../protocol/identity.js';
import type { SqlDb } from '../store/db.js';
import {
  loadPriorState,
  type PriorState,
  providerLockId,
  slotKey,
  storeBatch,
} from '../store/ledger-ingest.js';
import { initialOffloadState, OFFLOAD_REFUSED_REASON } from '../store/ledger-offload.js';
import { isRegistered, openEpoch } from '../store/ledger-queries.js';
import {
  type BatchRejection,
  type CheckedSubmission,
  checkSubmission,
  judgeReceipts,
  type ReceiptVerdict,
} from '../verify/verify-submission.js';

export interface IngestInit {
  readonly maxPastMs: number;
  readonly maxFutureMs: number;
  readonly maxReceipts: number;
  readonly maxBytes: number;
  /** Only nodes registered with the service may submit. */
  readonly requireRegistration: boolean;
}

export interface IngestComponents {
  readonly db: SqlDb;
  readonly identity: NodeIdentity;
  readonly now: () => number;
  /** Credit per sample for a registered model digest (hex); undefined for an unknown model. */
  readonly creditPerSample: (modelSha256Hex: string) => number | undefined;
}

export type IngestOutcome =
  | {
      readonly ok: false;
      readonly status: BatchRejection;
      readonly detail: string;
      readonly provider?: string;
    }
  | {
      readonly ok: true;
      readonly provider: string;
      readonly ack: SignedAck;
      readonly verdicts: readonly ReceiptVerdict[];
      readonly batchId: number;
    };

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * One submission, from bytes to a signed acknowledgement. Storage-free checks run first;
 * then, inside one transaction holding the provider's lock (so two replicas on one
 * PostgreSQL, or two requests at once, cannot both credit a receipt), the receipts are
 * judged against what the ledger holds and the outcome stored. The ack is signed after the
 * commit: an ack is only ever sent for what is durably recorded.
 */
export async function ingestSubmission(
  bytes: Uint8Array,
  init: IngestInit,
  components: IngestComponents,
): Promise<IngestOutcome> {
  const checked = checkSubmission(bytes, { maxBytes: init.maxBytes, maxReceipts: init.maxReceipts });
  if (!checked.ok) return checked;
  const { db } = components;
  if (init.requireRegistration && !(await isRegistered(db, checked.header.providerKey))) {
    return {
      ok: false,
      status: 'unknown_node',
      provider: checked.provider,
      detail: `provider ${checked.provider} is not registered; run "fieldmesh settlement register" with its node id`,
    };
  }
  const nowMs = components.now();
  const { verdicts, batchId } = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [providerLockId(checked.header.providerKey)]);
    const prior = await loadPriorState(tx, checked);
    const judged = judge(checked, prior, init, components, nowMs);
    const id = await storeBatch(tx, checked, {
      headerHash: batchHeaderHash(checked.headerBytes),
      receivedAtMs: nowMs,
      epoch: await openEpoch(tx),
      verdicts: judged,
      creditOf: (v) => creditOf(v, components),
    });
    return { verdicts: judged, batchId: id };
  });
  return {
    ok: true,
    provider: checked.provider,
    verdicts,
    batchId,
    ack: ackFor(checked, verdicts, nowMs, components),
  };
}

function judge(
  checked: CheckedSubmission,
  prior: PriorState,
  init: IngestInit,
  components: IngestComponents,
  nowMs: number,
): readonly ReceiptVerdict[] {
  const verdicts = judgeReceipts(checked, {
    nowMs,
    maxPastMs: init.maxPastMs,
    maxFutureMs: init.maxFutureMs,
    known: (id) => (prior.knownIds.has(id) ? { bodyHex: '' } : undefined),
    seenSlot: (_provider, pipeline, sequence) => prior.slots.get(slotKey(pipeline, sequence)),
    modelKnown: (digest) => components.creditPerSample(digest) !== undefined,
  });
  // The ack has no code for it (protocol/ack.ts), so a stored receipt that can never earn
  // credit — work for another node outside an offload session — is acknowledged `valid` and
  // carries the reason here, in the log and in GET /v1/nodes/<node> (offload.refusedReceipts).
  return verdicts.map((v) =>
    v.status === 'valid' && v.receipt !== undefined && initialOffloadState(v.receipt) === 'refused'
      ? { ...v, detail: OFFLOAD_REFUSED_REASON }
      : v,
  );
}

function creditOf(v: ReceiptVerdict, components: IngestComponents): number {
  const r = v.receipt;
  if (r === undefined) return 0;
  return r.sampleCount * (components.creditPerSample(hex(r.modelSha256)) ?? 0);
}

function ackFor(
  checked: CheckedSubmission,
  verdicts: readonly ReceiptVerdict[],
  nowMs: number,
  components: IngestComponents,
): SignedAck {
  const receipts: AckEntry[] = verdicts.map((v) => ({ receiptId: v.id, status: v.status }));
  return signAck(
    {
      batchHeaderHash: batchHeaderHash(checked.headerBytes),
      providerKey: checked.header.providerKey,
      receipts,
      acceptedAtMs: nowMs,
    },
    components.identity.secretKey,
  );
}

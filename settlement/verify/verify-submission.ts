import type { ReceiptStatus } from '../../protocol/ack.js';
import { BATCH_DOMAIN_TAG, type BatchHeader, decodeBatchHeader } from '../../protocol/batch.js';
import { merkleRoot } from '../../protocol/merkle.js';
import { decodeReceipt, type Receipt, receiptId } from '../../protocol/receipt.js';
import { verifyNode } from '../../protocol/signatures.js';
import {
  DEFAULT_MAX_RECEIPTS,
  decodeSubmission,
  type Submission,
  SubmissionError,
} from '../../protocol/submission.js';

/**
 * The settlement service's verification rules for one submission (DESIGN.md "Wire
 * protocol", docs/protocol.md sections 4–6). Pure: no I/O and no clock. The caller backs
 * `known` and `seenSlot` with storage and passes the current time in.
 *
 * Batch-level checks, in order (the first failure rejects the whole submission):
 *   too_large      more bytes or receipts than allowed
 *   malformed      envelope or header not the documented shape; or a receipt that decodes
 *                  but names another provider than the batch signer
 *   bad_signature  the signature does not verify over the exact header bytes (strict S < L)
 *   unknown_node   registration is required and the signer is not registered
 *   root_mismatch  receipt count ≠ leafCount, or the ids do not hash to the signed root
 *
 * Then each receipt gets its own status, first match wins:
 *   malformed            the body does not decode (its id still counts towards the root)
 *   duplicate            its id is already known, or appeared earlier in this batch
 *   equivocation         its (provider, pipeline, sequence) slot holds a different id,
 *                        stored or earlier in this batch; the first-seen receipt keeps its slot
 *   outside_time_window  startTimeMs before nowMs − maxPastMs or after nowMs + maxFutureMs
 *   unknown_model        `modelKnown` is given and says the model digest is not registered
 *   valid
 * Dedup keys on the receipt id, never on signature bytes (a malleated signature is refused
 * outright, and a re-signed batch of the same receipts is still all duplicate).
 */
export interface VerifyContext {
  readonly nowMs: number;
  readonly maxPastMs: number;
  readonly maxFutureMs: number;
  /** Hex public keys of registered providers; when present, only these may submit. */
  readonly registeredProviders?: ReadonlySet<string>;
  /** Default DEFAULT_MAX_RECEIPTS. */
  readonly maxReceipts?: number;
  /** Largest submission in bytes; unlimited when absent (the HTTP layer should bound it too). */
  readonly maxBytes?: number;
  /** The stored receipt with this id, if any. */
  known(receiptIdHex: string): { readonly bodyHex: string } | undefined;
  /** The receipt id stored for this slot, if any. */
  seenSlot(providerHex: string, pipeline: string, sequence: number): string | undefined;
  /** Whether a model digest (hex) is registered; every model counts as known when absent. */
  modelKnown?(modelSha256Hex: string): boolean;
}

/** The limits checkSubmission applies before any storage is consulted. */
export type SubmissionLimits = Pick<VerifyContext, 'registeredProviders' | 'maxReceipts' | 'maxBytes'>;

/** A submission whose envelope, signature and root have been checked; receipts not yet judged. */
export interface CheckedSubmission {
  readonly ok: true;
  readonly provider: string;
  readonly header: BatchHeader;
  readonly headerBytes: Uint8Array;
  readonly decoded: readonly DecodedReceipt[];
}

export type BatchRejection = 'malformed' | 'bad_signature' | 'root_mismatch' | 'unknown_node' | 'too_large';

export interface ReceiptVerdict {
  readonly id: Uint8Array;
  /** The body bytes exactly as submitted. */
  readonly body: Uint8Array;
  readonly idHex: string;
  readonly status: ReceiptStatus;
  readonly detail?: string;
  /** Present whenever the body decoded. */
  readonly receipt?: Receipt;
}

export type VerifyResult =
  | { readonly ok: false; readonly status: BatchRejection; readonly detail: string }
  | {
      readonly ok: true;
      /** Hex of the batch signer's public key. */
      readonly provider: string;
      readonly header: BatchHeader;
      readonly headerBytes: Uint8Array;
      readonly receipts: readonly ReceiptVerdict[];
    };

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function reject(status: BatchRejection, detail: string): VerifyResult {
  return { ok: false, status, detail };
}

export type DecodedReceipt = {
  readonly id: Uint8Array;
  readonly body: Uint8Array;
  readonly idHex: string;
  readonly receipt?: Receipt;
  readonly error?: string;
};
type Decoded = DecodedReceipt;

function decodeBodies(bodies: readonly Uint8Array[]): Decoded[] {
  return bodies.map((body) => {
    const id = receiptId(body);
    try {
      return { id, body, idHex: hex(id), receipt: decodeReceipt(body) };
    } catch (err) {
      return { id, body, idHex: hex(id), error: (err as Error).message };
    }
  });
}

function checkBatch(sub: Submission, header: BatchHeader, ctx: SubmissionLimits, ids: readonly Uint8Array[]) {
  const provider = hex(header.providerKey);
  if (!verifyNode(BATCH_DOMAIN_TAG, sub.headerBytes, sub.signature, header.providerKey)) {
    return reject(
      'bad_signature',
      `batch ${header.batchSequence}: signature does not verify under ${provider}`,
    );
  }
  if (ctx.registeredProviders !== undefined && !ctx.registeredProviders.has(provider)) {
    return reject('unknown_node', `provider ${provider} is not registered; register the node first`);
  }
  if (ids.length !== header.leafCount) {
    return reject(
      'root_mismatch',
      `batch ${header.batchSequence}: header commits to ${header.leafCount} receipts, submission carries ${ids.length}`,
    );
  }
  if (Buffer.compare(merkleRoot(ids), header.merkleRoot) !== 0) {
    return reject(
      'root_mismatch',
      `batch ${header.batchSequence}: receipt ids do not hash to the signed Merkle root`,
    );
  }
  return undefined;
}

function verdict(d: Decoded, status: ReceiptStatus, detail?: string): ReceiptVerdict {
  const v = { id: d.id, body: d.body, idHex: d.idHex, status };
  const withReceipt = d.receipt === undefined ? v : { ...v, receipt: d.receipt };
  return detail === undefined ? withReceipt : { ...withReceipt, detail };
}

// Hot: runs for every receipt of every batch. Detail sentences are built only for refusals.
function judge(
  d: Decoded,
  provider: string,
  ctx: VerifyContext,
  batchIds: Set<string>,
  batchSlots: Map<string, string>,
): ReceiptVerdict {
  const r = d.receipt;
  if (r === undefined) return verdict(d, 'malformed', d.error ?? 'does not decode');
  if (batchIds.has(d.idHex)) return verdict(d, 'duplicate', 'appears earlier in this batch');
  batchIds.add(d.idHex);
  const storedSlot = ctx.seenSlot(provider, r.pipelineId, r.sequence);
  if (storedSlot === d.idHex || ctx.known(d.idHex) !== undefined)
    return verdict(d, 'duplicate', 'already received');
  const slot = () => `pipeline ${JSON.stringify(r.pipelineId)} sequence ${r.sequence}`;
  if (storedSlot !== undefined) {
    return verdict(d, 'equivocation', `${slot()} already holds receipt ${storedSlot}`);
  }
  const slotKey = `${r.pipelineId}\u0000${r.sequence}`;
  const inBatch = batchSlots.get(slotKey);
  if (inBatch !== undefined)
    return verdict(d, 'equivocation', `${slot()} also holds receipt ${inBatch} in this batch`);
  batchSlots.set(slotKey, d.idHex);
  const earliest = ctx.nowMs - ctx.maxPastMs;
  const latest = ctx.nowMs + ctx.maxFutureMs;
  if (r.startTimeMs < earliest || r.startTimeMs > latest) {
    return verdict(
      d,
      'outside_time_window',
      `startTimeMs ${r.startTimeMs} is outside [${earliest}, ${latest}]`,
    );
  }
  if (ctx.modelKnown !== undefined && !ctx.modelKnown(hex(r.modelSha256))) {
    return verdict(
      d,
      'unknown_model',
      `model ${hex(r.modelSha256)} is not registered with the settlement service`,
    );
  }
  return verdict(d, 'valid');
}

/**
 * The checks that need no storage: size, envelope, signature, registration (when a set is
 * given), root, and every receipt naming the signer as provider. Never throws on any input.
 */
export function checkSubmission(
  bytes: Uint8Array,
  limits: SubmissionLimits,
): CheckedSubmission | Extract<VerifyResult, { ok: false }> {
  if (limits.maxBytes !== undefined && bytes.length > limits.maxBytes) {
    return reject(
      'too_large',
      `submission is ${bytes.length} bytes, more than the limit of ${limits.maxBytes}`,
    ) as Extract<VerifyResult, { ok: false }>;
  }
  let sub: Submission;
  let header: BatchHeader;
  try {
    sub = decodeSubmission(bytes, { maxReceipts: limits.maxReceipts ?? DEFAULT_MAX_RECEIPTS });
    header = decodeBatchHeader(sub.headerBytes);
  } catch (err) {
    const tooLarge = err instanceof SubmissionError && err.code === 'SUBMISSION_TOO_LARGE';
    return { ok: false, status: tooLarge ? 'too_large' : 'malformed', detail: (err as Error).message };
  }
  const decoded = decodeBodies(sub.receiptBodies);
  const rejection = checkBatch(
    sub,
    header,
    limits,
    decoded.map((d) => d.id),
  );
  if (rejection !== undefined) return rejection as Extract<VerifyResult, { ok: false }>;
  const provider = hex(header.providerKey);
  const foreign = decoded.findIndex(
    (d) => d.receipt !== undefined && Buffer.compare(d.receipt.providerKey, header.providerKey) !== 0,
  );
  if (foreign >= 0) {
    const other = hex(decoded[foreign]?.receipt?.providerKey ?? new Uint8Array());
    return {
      ok: false,
      status: 'malformed',
      detail: `receipt ${foreign} names provider ${other}, but the batch is signed by ${provider}`,
    };
  }
  return { ok: true, provider, header, headerBytes: sub.headerBytes, decoded };
}

/** Gives every receipt of a checked submission its status (see VerifyContext). */
export function judgeReceipts(checked: CheckedSubmission, ctx: VerifyContext): readonly ReceiptVerdict[] {
  const batchIds = new Set<string>();
  const batchSlots = new Map<string, string>();
  return checked.decoded.map((d) => judge(d, checked.provider, ctx, batchIds, batchSlots));
}

/** Verifies one submission body; see VerifyContext for the rules. Never throws on any input bytes. */
export function verifySubmission(bytes: Uint8Array, ctx: VerifyContext): VerifyResult {
  const checked = checkSubmission(bytes, ctx);
  if (!checked.ok) return checked;
  const { provider, header, headerBytes } = checked;
  return { ok: true, provider, header, headerBytes, receipts: judgeReceipts(checked, ctx) };
}

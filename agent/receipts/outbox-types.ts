import type { Logger } from 'pino';
import type { AckEntry, SignedAck } from '../../protocol/ack.js';
import type { Receipt } from '../../protocol/receipt.js';
import type { BatchPolicy } from './batch-policy.js';

/** The outbox's settings, collaborators and public surface (implementation: outbox.ts). */

/** For the message when LevelDB cannot load (broker/level-db.ts). */
export const OUTBOX_USE = {
  part: 'the receipt outbox (the settlement section)',
  without: 'remove the settlement section from the config: receipts are then off',
} as const;

export interface OutboxInit {
  /** Directory of the ClassicLevel store; created when missing. */
  readonly dir: string;
  /** Budget for stored receipts (records and keys); appends beyond it are refused. */
  readonly maxDiskBytes: number;
  readonly policy: BatchPolicy;
}

export interface OutboxComponents {
  readonly logger: Logger;
  readonly now: () => number;
  readonly identity: { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array };
}

export interface OutboxBatch {
  /** The encoded submission, byte-identical every time this batch is returned. */
  readonly submission: Uint8Array;
  readonly batchSequence: number;
  readonly receiptIds: readonly Uint8Array[];
}

/** What the caller knows of a job; the outbox adds the version, its own key and the sequence. */
export type ReceiptFields = Omit<Receipt, 'version' | 'providerKey' | 'sequence'>;

export interface OutboxStats {
  /** Receipts stored and not yet acknowledged, the in-flight ones included. */
  readonly pendingReceipts: number;
  /** Receipts accepted by appendJob and not yet written (the next group commit writes them). */
  readonly bufferedReceipts: number;
  /** Receipts accepted since start (appendJob and append; a repeated append does not count). */
  readonly appended: number;
  /** Receipts refused since start because the disk budget was reached. */
  readonly refused: number;
  readonly bytesUsed: number;
  readonly maxDiskBytes: number;
  readonly inFlightBatchSequence: number | null;
  readonly lastAckAtMs: number | null;
}

export interface Outbox {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stores an encoded receipt body and resolves once it is on disk; idempotent per receipt id. */
  append(receiptBody: Uint8Array): Promise<{ id: Uint8Array }>;
  /**
   * Synchronous and cheap, for the inference hot path: assigns the next sequence, encodes the
   * receipt and buffers it for the next group commit (≤ GROUP_COMMIT_MS later, or at once when
   * GROUP_COMMIT_MAX are buffered). Returns null when the disk budget refuses it (counted in
   * `refused` and logged); throws OutboxNotStartedError, or ReceiptInvalidError for bad fields.
   */
  appendJob(fields: ReceiptFields): { id: Uint8Array; sequence: number } | null;
  /** Writes the buffered receipts now; resolves once they are durable. */
  flush(): Promise<void>;
  /**
   * Flushes first, so a batch only ever holds durable receipts. `cutNow` cuts a batch of what
   * is pending even when the policy would wait for more.
   */
  nextBatch(options?: { readonly cutNow?: boolean }): Promise<OutboxBatch | null>;
  acknowledge(
    signedAck: SignedAck,
    servicePublicKey: Uint8Array,
  ): Promise<{ removed: number; statuses: readonly AckEntry[] }>;
  stats(): OutboxStats;
}

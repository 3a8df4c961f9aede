import type { Logger } from 'pino';

/** Tensor retention's settings, collaborators and public surface (implementation: retention.ts). */

export interface TensorRetentionInit {
  readonly dir: string;
  /** Budget for the segment files; the oldest segments are deleted beyond it. */
  readonly maxBytes: number;
  /** Segments whose newest entry is older than this are deleted: set it past the challenge deadline. */
  readonly retentionMs: number;
  /** Size at which a segment is sealed; default SEGMENT_BYTES, at most an eighth of maxBytes. */
  readonly segmentBytes?: number;
}

export interface TensorRetentionComponents {
  readonly logger: Logger;
  readonly now: () => number;
}

export interface RetainedTensors {
  readonly input: Uint8Array;
  readonly output: Uint8Array;
}

export interface TensorRetentionStats {
  /** Entries on disk. */
  readonly entries: number;
  /** Bytes of the segment files. */
  readonly bytesUsed: number;
  /** Entries evicted since start (by age or by the byte budget). */
  readonly evicted: number;
  /** Entries still buffered in memory, not yet written. */
  readonly buffered: number;
  /** put() calls refused (not started, unencodable, or the disk not keeping up). */
  readonly dropped: number;
}

export interface TensorRetention {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Copies the tensors: the caller may reuse its buffers as soon as this returns. */
  put(receiptId: Uint8Array, sequence: number, input: Uint8Array, output: Uint8Array): void;
  /** Writes the buffer now and evicts; the timer does this on its own every FLUSH_INTERVAL_MS. */
  flush(): Promise<void>;
  get(receiptId: Uint8Array, sequence: number): Promise<RetainedTensors | undefined>;
  stats(): TensorRetentionStats;
}

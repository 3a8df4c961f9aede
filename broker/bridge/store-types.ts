import type { BridgeRecord } from './record-codec.js';
import type { StoredRecord } from './segment-reader.js';

export type OverflowPolicy = 'drop-oldest' | 'drop-newest';
/** 'dropped-oldest': accepted, then pushed out by newer records before it reached the disk. */
export type AppendOutcome = 'stored' | 'dropped-oldest' | 'dropped-newest' | 'too-large';

export interface BridgeStoreInit {
  dir: string;
  budgetBytes: number;
  /** A new segment is started when the next batch would pass this size. */
  segmentBytes: number;
  overflow: OverflowPolicy;
  /** Cursor file rewrites are at most this often (default 1000 ms). */
  cursorWriteMs?: number;
}

export interface BridgeStoreStats {
  /** Size of the segment files. */
  bytes: number;
  /** Stored records not yet acknowledged upstream. */
  backlog: number;
  /** Highest sequence number acknowledged upstream (or dropped). */
  acked: number;
  /** Undelivered records deleted by 'drop-oldest' (or found corrupt when read). */
  droppedOldest: number;
  /** Records refused because the budget was full ('drop-newest', or nothing left to drop). */
  droppedNewest: number;
  /** Records refused because one alone is larger than a segment. */
  tooLarge: number;
}

export interface BridgeStore {
  append(record: BridgeRecord): Promise<AppendOutcome>;
  /** Up to `maxCount` durable records from `fromSeq` on (from the oldest kept one if that is gone). */
  read(fromSeq: number, maxCount: number): Promise<StoredRecord[]>;
  acknowledge(seq: number): void;
  /** Sequence number of the first record not yet acknowledged. */
  firstUnacked(): number;
  /** Accept appends again after a failed write. */
  resume(): void;
  stats(): BridgeStoreStats;
  /** Finishes the write in progress, writes the cursor, closes files. */
  close(): Promise<void>;
}

import type { FileHandle } from 'node:fs/promises';
import { mkdir, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { cursorWriter } from './cursor-writer.js';
import { BridgeStoreError, BridgeStoreFailedError } from './errors.js';
import {
  type BridgeRecord,
  encodeRecord,
  MAX_TOPIC_BYTES,
  RECORD_HEADER_BYTES,
  SEGMENT_MAGIC,
} from './record-codec.js';
import { createSegment, readCursor, recoverSegments, type SegmentInfo } from './segment-files.js';
import { SegmentReader, type StoredRecord } from './segment-reader.js';
import type { AppendOutcome, BridgeStore, BridgeStoreInit, BridgeStoreStats } from './store-types.js';

export type * from './store-types.js';

/**
 * The bridge's store-and-forward queue: an append-only log of segment files on disk.
 *
 * - append() resolves once the record is written and fdatasync'd. Appends that arrive while a
 *   write is in progress go out together in the next one (group commit): one fsync per batch.
 * - Records have consecutive sequence numbers; acknowledge(seq) marks every record ≤ seq as
 *   delivered upstream. A segment is deleted once all its records are; the cursor file is
 *   rewritten at most once per `cursorWriteMs` (a stale cursor only re-sends, never loses).
 * - The segment files stay within `budgetBytes`: when a record does not fit, 'drop-oldest'
 *   gives up the oldest whole segment, delivered or not, and 'drop-newest' refuses the record.
 * - After a failed write the store refuses appends (BridgeStoreFailedError) until resume(), so
 *   nothing after the failed record is stored before it: order holds when the broker resends.
 */
export async function openBridgeStore(init: BridgeStoreInit, log: Logger): Promise<BridgeStore> {
  const maxBodyBytes = init.segmentBytes - SEGMENT_MAGIC.length - RECORD_HEADER_BYTES;
  try {
    await mkdir(init.dir, { recursive: true });
    const segments = await recoverSegments(init.dir, maxBodyBytes, log);
    const acked = await readCursor(init.dir, log);
    return new SegmentStore(init, log, segments, acked);
  } catch (err) {
    throw err instanceof BridgeStoreError ? err : new BridgeStoreError(init.dir, 'recovery', err);
  }
}

/** A record waiting to be written; its sequence number is given at the write, so a drop leaves no gap. */
interface Pending {
  bytes: Buffer;
  resolve: (outcome: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

class SegmentStore implements BridgeStore {
  private readonly maxBodyBytes: number;
  private readonly reader: SegmentReader;
  private readonly cursor: ReturnType<typeof cursorWriter>;
  private readonly counts = { droppedOldest: 0, droppedNewest: 0, tooLarge: 0 };
  private readonly background = new Set<Promise<unknown>>();
  private nextSeq: number;
  private durableBytes: number;
  /** Bytes appended and not yet durable (waiting, or in the write in progress). */
  private queuedBytes = 0;
  private pending: Pending[] = [];
  private active: { info: SegmentInfo; handle: FileHandle } | null = null;
  private writing: Promise<void> | null = null;
  /** The segment a write is in progress to, and the size of that write. */
  private busy: { segment: SegmentInfo; bytes: number } | null = null;
  /** A busy segment 'drop-oldest' gave up: deleted once its write is done; its bytes count as free. */
  private doomed: { segment: SegmentInfo; bytes: number } | null = null;
  private failed = false;
  private closed = false;

  constructor(
    private readonly init: BridgeStoreInit,
    private readonly log: Logger,
    private segments: SegmentInfo[],
    private acked: number,
  ) {
    this.maxBodyBytes = init.segmentBytes - SEGMENT_MAGIC.length - RECORD_HEADER_BYTES;
    this.reader = new SegmentReader(this.maxBodyBytes);
    this.cursor = cursorWriter(init.dir, init.cursorWriteMs ?? 1000, () => this.acked, log);
    this.nextSeq = this.lastDurable() + 1;
    this.durableBytes = segments.reduce((sum, s) => sum + s.bytes, 0);
  }

  append(record: BridgeRecord): Promise<AppendOutcome> {
    if (this.closed) return Promise.reject(new BridgeStoreError(this.init.dir, 'appending', 'store closed'));
    if (this.failed) return Promise.reject(new BridgeStoreFailedError(this.init.dir));
    // A topic past MQTT's 65535 bytes (a long remotePrefix) cannot be encoded: too large as well.
    const bytes = Buffer.byteLength(record.topic) <= MAX_TOPIC_BYTES ? encodeRecord(record) : null;
    if (bytes === null || bytes.length - RECORD_HEADER_BYTES > this.maxBodyBytes) {
      this.counts.tooLarge++;
      return Promise.resolve('too-large');
    }
    // The header of the next segment is kept free, so starting one never passes the budget.
    const room = this.init.budgetBytes - SEGMENT_MAGIC.length;
    while (this.durableBytes + this.queuedBytes - (this.doomed?.bytes ?? 0) + bytes.length > room) {
      if (this.init.overflow === 'drop-newest' || !this.dropOldest()) {
        this.counts.droppedNewest++;
        return Promise.resolve('dropped-newest');
      }
    }
    this.queuedBytes += bytes.length;
    return new Promise<AppendOutcome>((resolve, reject) => {
      this.pending.push({ bytes, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  async read(fromSeq: number, maxCount: number): Promise<StoredRecord[]> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const from = Math.max(fromSeq, this.acked + 1);
      const segment = this.segments.find((s) => s.count > 0 && s.startSeq + s.count - 1 >= from);
      if (segment === undefined) return [];
      try {
        const got = await this.reader.read(segment, Math.max(from, segment.startSeq), maxCount);
        if (got.records.length > 0 || got.corruptFrom === null) return got.records;
        this.skipCorrupt(segment, got.corruptFrom);
      } catch (err) {
        // Dropped by 'drop-oldest' while being read: look again from the oldest kept segment.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new BridgeStoreError(segment.path, 'reading', err);
        }
      }
    }
    return [];
  }

  acknowledge(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = Math.min(seq, this.lastDurable());
    for (let head = this.segments[0]; head !== undefined; head = this.segments[0]) {
      if (head === this.active?.info || head.startSeq + head.count - 1 > this.acked) break;
      this.removeSegment(head);
    }
    this.cursor.dirty();
  }

  firstUnacked(): number {
    return this.acked + 1;
  }

  resume(): void {
    this.failed = false;
  }

  stats(): BridgeStoreStats {
    const unacked = (s: SegmentInfo) =>
      Math.max(0, s.startSeq + s.count - 1 - Math.max(this.acked, s.startSeq - 1));
    return {
      bytes: this.durableBytes,
      backlog: this.segments.reduce((sum, s) => sum + unacked(s), 0),
      acked: this.acked,
      ...this.counts,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
    const current = this.active;
    this.active = null;
    await current?.handle.close().catch(() => undefined);
    await this.cursor.flush();
    await Promise.all([...this.background]);
  }

  private lastDurable(): number {
    const last = this.segments.findLast((s) => s.count > 0);
    return last === undefined ? this.acked : Math.max(this.acked, last.startSeq + last.count - 1);
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.failed) {
      try {
        await this.writeNext();
      } catch (err) {
        await this.fail([], err); // creating a segment failed
      }
    }
    this.writing = null;
  }

  /**
   * Writes the longest run of waiting records that fits the current segment (a new one if the
   * first does not), with one fdatasync. One segment per write: 'drop-oldest' can then give up
   * the segment being written as a whole, and everything still waiting stays droppable.
   */
  private async writeNext(): Promise<void> {
    const limit = this.init.segmentBytes;
    const first = this.pending[0]!;
    if (
      this.active === null ||
      (this.active.info.count > 0 && this.active.info.bytes + first.bytes.length > limit)
    ) {
      await this.roll(this.nextSeq);
      if (this.pending.length === 0) return; // all dropped while the segment was being created
    }
    const target = this.active!;
    let take = 0;
    let size = 0;
    for (const p of this.pending) {
      if (take > 0 && target.info.bytes + size + p.bytes.length > limit) break;
      size += p.bytes.length;
      take++;
    }
    const batch = this.pending.splice(0, take);
    const chunk = Buffer.concat(batch.map((p) => p.bytes));
    this.busy = { segment: target.info, bytes: chunk.length };
    try {
      await target.handle.write(chunk, 0, chunk.length, target.info.bytes);
      await target.handle.datasync();
    } catch (err) {
      await this.fail(batch, err);
      return;
    } finally {
      this.busy = null;
    }
    this.nextSeq += batch.length;
    target.info.count += batch.length;
    target.info.bytes += chunk.length;
    this.durableBytes += chunk.length;
    this.queuedBytes -= chunk.length;
    for (const p of batch) p.resolve('stored');
    if (this.doomed?.segment === target.info) {
      this.doomed = null;
      this.dropSegment(target.info);
    }
  }

  private async roll(startSeq: number): Promise<void> {
    const previous = this.active;
    this.active = null;
    await previous?.handle.close();
    const { file, handle } = await createSegment(this.init.dir, startSeq);
    const info: SegmentInfo = { path: file, startSeq, count: 0, bytes: SEGMENT_MAGIC.length };
    this.segments.push(info);
    this.durableBytes += info.bytes;
    this.active = { info, handle };
  }

  /** A write failed: reject it and everything waiting, cut the partial write off, halt appends. */
  private async fail(batch: Pending[], err: unknown): Promise<void> {
    this.failed = true;
    const rejected = [...batch, ...this.pending];
    this.pending = [];
    this.queuedBytes = 0;
    const error = new BridgeStoreError(this.active?.info.path ?? this.init.dir, 'appending', err);
    this.log.error(
      { err: error.message, records: rejected.length },
      'bridge store: write failed; appends halted',
    );
    const broken = this.active;
    this.active = null;
    if (broken !== null) {
      await broken.handle.truncate(broken.info.bytes).catch(() => undefined);
      await broken.handle.close().catch(() => undefined);
      if (broken.info.count === 0) this.removeSegment(broken.info);
    }
    const condemned = this.doomed?.segment;
    this.doomed = null;
    if (condemned !== undefined && this.segments.includes(condemned)) this.dropSegment(condemned);
    this.nextSeq = this.lastDurable() + 1;
    for (const p of rejected) p.reject(error);
  }

  /**
   * Makes room for newer records ('drop-oldest'): deletes the oldest segment; if a write to it is
   * in progress, marks it to be deleted when the write is done; when there is no segment left to
   * give up, drops the oldest record still waiting to be written. False when nothing is left.
   */
  private dropOldest(): boolean {
    const { busy, doomed } = this;
    const oldest = this.segments.find((s) => s !== doomed?.segment && (s.count > 0 || s === busy?.segment));
    if (oldest !== undefined && oldest === busy?.segment) {
      this.doomed = { segment: oldest, bytes: oldest.bytes + busy.bytes };
      return true;
    }
    if (oldest !== undefined) {
      this.dropSegment(oldest);
      return true;
    }
    const waiting = this.pending.shift();
    if (waiting === undefined) return false;
    this.queuedBytes -= waiting.bytes.length;
    this.counts.droppedOldest++;
    waiting.resolve('dropped-oldest');
    return true;
  }

  /** Deletes a whole segment, delivered or not, and moves the cursor past it. */
  private dropSegment(segment: SegmentInfo): void {
    if (segment === this.active?.info) {
      this.track(this.active.handle.close()); // the next write starts a new segment
      this.active = null;
    }
    const end = segment.startSeq + segment.count - 1;
    this.counts.droppedOldest += Math.max(0, end - Math.max(this.acked, segment.startSeq - 1));
    this.acked = Math.max(this.acked, end);
    this.removeSegment(segment);
    this.cursor.dirty();
  }

  /** Bytes that no longer decode (bit rot) cannot be sent; count them as dropped and move on. */
  private skipCorrupt(segment: SegmentInfo, from: number): void {
    const end = segment.startSeq + segment.count - 1;
    this.log.error(
      { file: segment.path, from, to: end },
      'bridge store: corrupt records skipped; they are lost',
    );
    this.counts.droppedOldest += end - from + 1;
    this.acknowledge(end);
  }

  private removeSegment(segment: SegmentInfo): void {
    this.segments = this.segments.filter((s) => s !== segment);
    this.durableBytes -= segment.bytes;
    this.reader.forget(segment);
    this.track(
      unlink(segment.path).catch((err: Error) =>
        this.log.warn({ file: segment.path, err: err.message }, 'bridge store: segment not deleted'),
      ),
    );
  }

  /** Keeps a background file operation until it settles, so close() can wait for it. */
  private track(work: Promise<unknown>): void {
    const settled = work.catch(() => undefined).finally(() => this.background.delete(settled));
    this.background.add(settled);
  }
}

import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { scanRecords } from './retention-records.js';
import {
  type RetentionState,
  type Segment,
  sealedSegmentName,
  sealSegment,
  segmentFile,
} from './retention-segments.js';

/**
 * Writes tensor retention's buffered chunks to their segment files and seals the segments that
 * are done (retention.ts describes the storage). Runs inside the retention's queue, one call
 * at a time, and keeps the shared state's counters in step with the disk.
 */
export class SegmentWriter {
  constructor(
    private readonly dir: string,
    private readonly state: RetentionState,
    private readonly log: Logger,
  ) {}

  /** Appends every pending chunk to its segment file; seals the segments that are done. */
  async writeBuffer(): Promise<void> {
    for (const seg of this.state.segments.filter((s) => s.live)) {
      if (seg.pending.length > 0) await this.writeSegment(seg);
      if (seg.sealing && seg.pending.length === 0) await this.sealFile(seg);
    }
  }

  /** Segments left open by a crash: read once to learn their range, then sealed. */
  async sealLeftovers(): Promise<void> {
    for (const seg of this.state.segments.filter((s) => s.open && !s.live)) {
      const data = await readFile(this.file(seg));
      const scan = scanRecords(data);
      this.state.entries += scan.records;
      seg.records = scan.records;
      seg.lastSeq = scan.lastSeq ?? seg.firstSeq;
      if (scan.tornBytes > 0) {
        this.log.warn(
          { segment: seg.name, tornBytes: scan.tornBytes },
          'tensor segment ends in a torn record (crash); ignored',
        );
      }
      await this.sealFile(seg);
    }
  }

  private async writeSegment(seg: Segment): Promise<void> {
    const state = this.state;
    const chunks = seg.pending;
    // Puts during the write start new chunks; the ones taken here are no longer appended to.
    seg.pending = [];
    let done = 0;
    try {
      seg.handle ??= await open(this.file(seg), 'a');
      for (const c of chunks) {
        await writeAll(seg.handle, c.buf, c.used);
        done++;
        seg.bytes += c.used;
        seg.records += c.records;
        state.bytesUsed += c.used;
        state.entries += c.records;
        state.bufferedBytes -= c.used;
        state.bufferedRecords -= c.records;
      }
    } catch (err) {
      seg.pending = [...chunks.slice(done), ...seg.pending];
      await this.recoverTail(seg);
      throw err;
    }
  }

  /**
   * After a failed write, part of a chunk may be in the file: cut it off so that the retry
   * appends whole records. When even that fails, the segment is given up: its unwritten
   * records are dropped and it is sealed as it is (a torn tail is ignored by readers).
   */
  private async recoverTail(seg: Segment): Promise<void> {
    try {
      if (seg.handle === undefined) throw new Error('segment file not open');
      await seg.handle.truncate(seg.bytes);
    } catch (err) {
      const lost = seg.pending.reduce((n, c) => n + c.records, 0);
      for (const c of seg.pending) {
        this.state.bufferedBytes -= c.used;
        this.state.bufferedRecords -= c.records;
      }
      seg.pending = [];
      this.state.dropped += lost;
      sealSegment(this.state, seg);
      this.log.error(
        { err, lost, segment: seg.name },
        'tensor segment cannot be repaired; its unwritten tensors are lost',
      );
    }
  }

  private async sealFile(seg: Segment): Promise<void> {
    await seg.handle?.close();
    seg.handle = undefined;
    seg.live = false;
    if (seg.records === 0) {
      await unlink(this.file(seg)).catch(() => undefined);
      this.state.segments = this.state.segments.filter((s) => s !== seg);
      return;
    }
    // Only the records on disk count: a given-up segment may have lost its last ones.
    const sealed = sealedSegmentName(seg);
    await rename(this.file(seg), path.join(this.dir, sealed));
    seg.name = sealed;
    seg.open = false;
  }

  private file(seg: Segment): string {
    return segmentFile(this.dir, seg);
  }
}

async function writeAll(handle: FileHandle, buf: Buffer, length: number): Promise<void> {
  let at = 0;
  while (at < length) {
    const { bytesWritten } = await handle.write(buf, at, length - at);
    at += bytesWritten;
  }
}

import { open } from 'node:fs/promises';
import {
  type BridgeRecord,
  encodedSize,
  RECORD_HEADER_BYTES,
  SEGMENT_MAGIC,
  scanRecords,
} from './record-codec.js';
import type { SegmentInfo } from './segment-files.js';

/** A record with its place in the queue. */
export interface StoredRecord extends BridgeRecord {
  seq: number;
}

/** What one read of a segment gave: records in order, or the sequence number where corruption begins. */
export interface SegmentRead {
  records: StoredRecord[];
  /** Set when the bytes at the next record do not decode (bit rot after the write). */
  corruptFrom: number | null;
}

/** Most bytes read from disk per call, beyond the one record that is always read whole. */
const READ_CHUNK_BYTES = 64 * 1024;

/**
 * Reads records from the durable part of segments, remembering where the last read stopped, so
 * reading a segment front to back costs one pass. Reading from anywhere else (after a reconnect,
 * from the first unacknowledged record) walks the record lengths from the segment's start.
 */
export class SegmentReader {
  private position: { segment: SegmentInfo; seq: number; offset: number } | null = null;

  constructor(private readonly maxBodyBytes: number) {}

  /** Up to `maxCount` records of `segment` starting at `fromSeq`; throws ENOENT if it was deleted meanwhile. */
  async read(segment: SegmentInfo, fromSeq: number, maxCount: number): Promise<SegmentRead> {
    const durableBytes = segment.bytes;
    const durableCount = segment.count;
    const handle = await open(segment.path, 'r');
    try {
      const at = this.position;
      const offset =
        at !== null && at.segment === segment && at.seq === fromSeq
          ? at.offset
          : await this.seek(handle, segment, fromSeq);
      const wanted = Math.min(maxCount, segment.startSeq + durableCount - fromSeq);
      const records: StoredRecord[] = [];
      let cursor = offset;
      while (records.length < wanted && cursor < durableBytes) {
        const chunk = await this.readChunk(handle, cursor, durableBytes);
        const scan = scanRecords(chunk, { withMagic: false, maxBodyBytes: this.maxBodyBytes });
        for (const record of scan.records.slice(0, wanted - records.length)) {
          records.push({ ...record, seq: fromSeq + records.length });
          cursor += encodedSize(record);
        }
        if (scan.records.length === 0) {
          this.position = null;
          return { records, corruptFrom: fromSeq + records.length };
        }
      }
      this.position = { segment, seq: fromSeq + records.length, offset: cursor };
      return { records, corruptFrom: null };
    } finally {
      await handle.close();
    }
  }

  /** Forgets the remembered position (its segment is gone). */
  forget(segment: SegmentInfo): void {
    if (this.position?.segment === segment) this.position = null;
  }

  /** Byte offset of record `seq` in `segment`, found by walking the record lengths. */
  private async seek(
    handle: Awaited<ReturnType<typeof open>>,
    segment: SegmentInfo,
    seq: number,
  ): Promise<number> {
    let offset = SEGMENT_MAGIC.length;
    const header = Buffer.alloc(RECORD_HEADER_BYTES);
    for (let s = segment.startSeq; s < seq; s++) {
      await handle.read(header, 0, RECORD_HEADER_BYTES, offset);
      offset += RECORD_HEADER_BYTES + header.readUInt32LE(0);
    }
    return offset;
  }

  /** Bytes from `offset`: a chunk, stretched to hold the first record whole. */
  private async readChunk(
    handle: Awaited<ReturnType<typeof open>>,
    offset: number,
    end: number,
  ): Promise<Buffer> {
    const header = Buffer.alloc(RECORD_HEADER_BYTES);
    await handle.read(header, 0, RECORD_HEADER_BYTES, offset);
    const first = RECORD_HEADER_BYTES + header.readUInt32LE(0);
    const length = Math.min(end - offset, Math.max(first, READ_CHUNK_BYTES));
    const chunk = Buffer.alloc(length);
    const { bytesRead } = await handle.read(chunk, 0, length, offset);
    // Keep only whole records: scanRecords reports a cut-short tail as a problem.
    return trimToWholeRecords(chunk.subarray(0, bytesRead));
  }
}

/** The longest prefix of `bytes` made of whole records (by their lengths; checksums come later). */
function trimToWholeRecords(bytes: Buffer): Buffer {
  let offset = 0;
  while (bytes.length - offset >= RECORD_HEADER_BYTES) {
    const next = offset + RECORD_HEADER_BYTES + bytes.readUInt32LE(offset);
    if (next > bytes.length) break;
    offset = next;
  }
  return offset === 0 ? bytes : bytes.subarray(0, offset);
}

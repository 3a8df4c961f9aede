import { type FileHandle, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Chunk, findRecord } from './retention-records.js';
import type { RetainedTensors } from './retention-types.js';

/** The segment files of tensor retention (described in retention.ts): names, listing, lookups. */

const CHUNK_BYTES = 256 * 1024;

export interface Segment {
  readonly firstSeq: number;
  readonly createdMs: number;
  name: string;
  /** Highest sequence in it; undefined while unknown (left open by a crash, not scanned yet). */
  lastSeq: number | undefined;
  /** Records and bytes on disk. */
  records: number;
  bytes: number;
  /** Time of its newest record (this process) or of its last write (file mtime). */
  newestMs: number;
  /** Still named .open on disk. */
  open: boolean;
  /** Written by this process and not sealed yet: eviction leaves it alone. */
  live: boolean;
  /** No more puts; sealed once its pending chunks are written. */
  sealing: boolean;
  /** Bytes put into it, written or not. */
  putBytes: number;
  pending: Chunk[];
  handle: FileHandle | undefined;
}

/** What the retention knows of its segments and buffer, shared by its writer and its eviction. */
export interface RetentionState {
  /** Oldest first: by creation time, which is strictly increasing. */
  segments: Segment[];
  active: Segment | undefined;
  entries: number;
  bytesUsed: number;
  evicted: number;
  dropped: number;
  bufferedBytes: number;
  bufferedRecords: number;
}

export function segmentFile(dir: string, seg: Segment): string {
  return path.join(dir, seg.name);
}

/** No more puts into `seg`; the next write seals it once its pending chunks are on disk. */
export function sealSegment(state: RetentionState, seg: Segment): void {
  seg.sealing = true;
  if (state.active === seg) state.active = undefined;
}

/** A new segment, written by this process, starting with `sequence`. */
export function newSegment(sequence: number, createdMs: number, now: number): Segment {
  return {
    firstSeq: sequence,
    createdMs,
    name: `seg-${sequence}-${createdMs}.open`,
    lastSeq: sequence,
    records: 0,
    bytes: 0,
    newestMs: now,
    open: true,
    live: true,
    sealing: false,
    putBytes: 0,
    pending: [],
    handle: undefined,
  };
}

/** The last pending chunk of `seg` when it has room for `size` more bytes, else a new one. */
export function chunkWithRoom(seg: Segment, size: number): Chunk {
  let chunk = seg.pending.at(-1);
  if (chunk === undefined || chunk.buf.length - chunk.used < size) {
    chunk = { buf: Buffer.allocUnsafe(Math.max(CHUNK_BYTES, size)), used: 0, records: 0 };
    seg.pending.push(chunk);
  }
  return chunk;
}

/** The name of `seg` once sealed: complete, never written again. */
export function sealedSegmentName(seg: Segment): string {
  return `seg-${seg.firstSeq}-${seg.createdMs}-${seg.lastSeq}-${seg.records}.seg`;
}

const SEALED_NAME = /^seg-(\d+)-(\d+)-(\d+)-(\d+)\.seg$/;
const OPEN_NAME = /^seg-(\d+)-(\d+)\.open$/;

type ParsedName = Pick<Segment, 'firstSeq' | 'createdMs' | 'lastSeq' | 'records' | 'open'>;

export function parseSegmentName(name: string): ParsedName | undefined {
  const sealed = SEALED_NAME.exec(name);
  if (sealed !== null) {
    const [firstSeq, createdMs, lastSeq, records] = sealed.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    return { firstSeq, createdMs, lastSeq, records, open: false };
  }
  const open = OPEN_NAME.exec(name);
  if (open === null) return undefined;
  return {
    firstSeq: Number(open[1]),
    createdMs: Number(open[2]),
    lastSeq: undefined,
    records: 0,
    open: true,
  };
}

/** The segment files in `dir`, oldest first; none of them is written by this process. */
export async function listSegments(dir: string): Promise<Segment[]> {
  const found: Segment[] = [];
  for (const name of await readdir(dir)) {
    const parsed = parseSegmentName(name);
    if (parsed === undefined) continue;
    const st = await stat(path.join(dir, name));
    found.push({
      ...parsed,
      name,
      bytes: st.size,
      newestMs: st.mtimeMs,
      live: false,
      sealing: false,
      putBytes: st.size,
      pending: [],
      handle: undefined,
    });
  }
  return found.sort((a, b) => a.createdMs - b.createdMs || a.firstSeq - b.firstSeq);
}

/** Finds a record in the segments whose range covers `sequence`, pending chunks included. */
export async function lookupRecord(
  dir: string,
  segments: readonly Segment[],
  receiptId: Uint8Array,
  sequence: number,
): Promise<RetainedTensors | undefined> {
  // Newest first: after a crash the newer of two records with one sequence is the likelier.
  for (const seg of [...segments].reverse()) {
    if (sequence < seg.firstSeq || (seg.lastSeq !== undefined && sequence > seg.lastSeq)) continue;
    for (const c of seg.pending) {
      const hit = findRecord(c.buf.subarray(0, c.used), receiptId, sequence);
      if (hit !== undefined) return hit;
    }
    if (seg.bytes === 0 && !seg.open) continue;
    let data: Buffer;
    try {
      data = await readFile(segmentFile(dir, seg));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const hit = findRecord(data, receiptId, sequence);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

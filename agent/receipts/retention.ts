import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { FieldmeshError } from '../../protocol/errors.js';
import { MAX_TENSOR_BYTES } from '../../protocol/reveal.js';

/**
 * Keeps the input and output tensor bytes of recent jobs so that a receipt challenged by a
 * spot check (docs/protocol.md §11) can be revealed. Losing them costs the batch its credit,
 * but they are not worth an fsync, nor a database entry, per job: put() copies the tensors
 * into an in-memory chunk, and a timer appends the chunks to a segment file with one plain
 * write every FLUSH_INTERVAL_MS (sooner once FLUSH_BYTES pile up). Nothing is fsynced: a power
 * cut may lose the last writes the kernel had not flushed yet, and a challenge on one of
 * those receipts then voids its batch. Whole files, appended and deleted, suit an SD card.
 *
 * Storage: append-only segment files in `dir`, each a run of records
 *
 *   receiptId (32) | sequence (u64 BE) | inputLen (u32 BE) | outputLen (u32 BE) | input | output
 *
 *   seg-<firstSeq>-<createdMs>.open                      being written (or left by a crash)
 *   seg-<firstSeq>-<createdMs>-<lastSeq>-<records>.seg    sealed: complete, never written again
 *
 * A segment is sealed (renamed) at about segmentBytes, or once it is older than an eighth of
 * retentionMs. Lookups go by the receipt's sequence (the challenge carries it): every segment
 * whose [firstSeq, lastSeq] covers it is read and its records matched on the id too, because
 * sequences repeat after a crash (the outbox hands out again the numbers of receipts it lost
 * before writing them). Eviction deletes whole oldest segments, by age (the newest record
 * older than retentionMs) and by the byte budget. Startup lists and stats the files; a segment
 * left open by a crash is scanned once, in the background, to learn its range and seal it. A
 * record torn by a crash is always the last of its segment (a new process never appends to an
 * old segment) and is ignored: its lengths point past the end of the file.
 */
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

export const FLUSH_INTERVAL_MS = 200;
export const FLUSH_BYTES = 1024 * 1024;
export const SEGMENT_BYTES = 4 * 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;
// Past this much unwritten data the disk is failing; put() drops rather than grow memory.
const MAX_BUFFERED_BYTES = 64 * FLUSH_BYTES;
const EVICTION_WARN_INTERVAL_MS = 60_000;
const MIN_SEGMENT_AGE_MS = 1_000;
const ID_BYTES = 32;
export const RECORD_HEADER_BYTES = ID_BYTES + 8 + 4 + 4;
const TWO_32 = 0x1_0000_0000;

export class RetentionConfigError extends FieldmeshError {
  constructor(problems: readonly string[]) {
    super('RETENTION_CONFIG_INVALID', `tensor retention settings rejected: ${problems.join('; ')}`);
  }
}

export function createTensorRetention(
  init: TensorRetentionInit,
  components: TensorRetentionComponents,
): TensorRetention {
  const problems: string[] = [];
  if (!(Number.isSafeInteger(init.maxBytes) && init.maxBytes > 0)) {
    problems.push(`maxBytes must be a positive integer, got ${String(init.maxBytes)}`);
  }
  if (!(Number.isSafeInteger(init.retentionMs) && init.retentionMs > 0)) {
    problems.push(`retentionMs must be a positive integer, got ${String(init.retentionMs)}`);
  }
  if (
    init.segmentBytes !== undefined &&
    !(Number.isSafeInteger(init.segmentBytes) && init.segmentBytes > 0)
  ) {
    problems.push(`segmentBytes must be a positive integer, got ${String(init.segmentBytes)}`);
  }
  if (problems.length > 0) throw new RetentionConfigError(problems);
  return new SegmentTensorRetention(init, components);
}

/** Records put but not written yet: a slice of one segment. */
interface Chunk {
  readonly buf: Buffer;
  used: number;
  records: number;
}

interface Segment {
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

class SegmentTensorRetention implements TensorRetention {
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private readonly segmentAgeMs: number;
  private started = false;
  private timer: NodeJS.Timeout | undefined;
  // Writes, seals, evictions and lookups run one after another, so files never move under a read.
  private queue: Promise<unknown> = Promise.resolve();
  /** Oldest first: by creation time, which is strictly increasing. */
  private segments: Segment[] = [];
  private active: Segment | undefined;
  private lastCreatedMs = Number.NEGATIVE_INFINITY;
  private bufferedBytes = 0;
  private bufferedRecords = 0;
  private flushQueued = false;
  private entries = 0;
  private bytesUsed = 0;
  private evicted = 0;
  private dropped = 0;
  private unreported = { byAge: 0, byBytes: 0 };
  private lastWarnAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly init: TensorRetentionInit,
    private readonly components: TensorRetentionComponents,
  ) {
    this.log = components.logger.child({ component: 'tensor-retention' });
    const wanted = init.segmentBytes ?? SEGMENT_BYTES;
    this.segmentBytes = Math.max(1, Math.min(wanted, Math.floor(init.maxBytes / 8)));
    this.segmentAgeMs = Math.max(MIN_SEGMENT_AGE_MS, Math.floor(init.retentionMs / 8));
  }

  async start(): Promise<void> {
    if (this.started) return;
    await mkdir(this.init.dir, { recursive: true });
    this.segments = await this.listSegments();
    this.entries = this.segments.reduce((n, s) => n + s.records, 0);
    this.bytesUsed = this.segments.reduce((n, s) => n + s.bytes, 0);
    this.lastCreatedMs = this.segments.at(-1)?.createdMs ?? Number.NEGATIVE_INFINITY;
    this.started = true;
    this.timer = setInterval(() => this.scheduleFlush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
    this.log.info(
      { dir: this.init.dir, segments: this.segments.length, ...this.stats() },
      'tensor retention opened',
    );
    void this.enqueue(async () => {
      await this.sealLeftovers();
      await this.evict();
    });
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    // Puts from here on are dropped, so the final write below is the last one.
    this.started = false;
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.active !== undefined) this.seal(this.active);
    await this.enqueue(() => this.writeBuffer());
    for (const s of this.segments) await s.handle?.close().catch(() => undefined);
  }

  put(receiptId: Uint8Array, sequence: number, input: Uint8Array, output: Uint8Array): void {
    const problem = this.putProblem(receiptId, sequence, input, output);
    if (problem !== undefined) {
      this.drop(problem);
      return;
    }
    const size = RECORD_HEADER_BYTES + input.length + output.length;
    const now = this.components.now();
    const seg = this.segmentFor(sequence, now);
    let chunk = seg.pending.at(-1);
    if (chunk === undefined || chunk.buf.length - chunk.used < size) {
      chunk = { buf: Buffer.allocUnsafe(Math.max(CHUNK_BYTES, size)), used: 0, records: 0 };
      seg.pending.push(chunk);
    }
    const b = chunk.buf;
    const at = chunk.used;
    b.set(receiptId, at);
    b.writeUInt32BE(Math.floor(sequence / TWO_32), at + ID_BYTES);
    b.writeUInt32BE(sequence >>> 0, at + ID_BYTES + 4);
    b.writeUInt32BE(input.length, at + ID_BYTES + 8);
    b.writeUInt32BE(output.length, at + ID_BYTES + 12);
    b.set(input, at + RECORD_HEADER_BYTES);
    b.set(output, at + RECORD_HEADER_BYTES + input.length);
    chunk.used += size;
    chunk.records++;
    seg.putBytes += size;
    seg.lastSeq = sequence;
    seg.newestMs = now;
    this.bufferedBytes += size;
    this.bufferedRecords++;
    if (this.bufferedBytes >= FLUSH_BYTES) this.scheduleFlush();
  }

  async flush(): Promise<void> {
    if (!this.started) return;
    await this.enqueue(async () => {
      await this.writeBuffer();
      await this.evict();
    });
  }

  get(receiptId: Uint8Array, sequence: number): Promise<RetainedTensors | undefined> {
    const run = this.queue.then(() => this.lookup(receiptId, sequence));
    this.queue = run.catch(() => undefined);
    return run;
  }

  stats(): TensorRetentionStats {
    return {
      entries: this.entries,
      bytesUsed: this.bytesUsed,
      evicted: this.evicted,
      buffered: this.bufferedRecords,
      dropped: this.dropped,
    };
  }

  private putProblem(
    id: Uint8Array,
    sequence: number,
    input: Uint8Array,
    output: Uint8Array,
  ): string | undefined {
    if (!this.started) return 'tensor retention is not started; tensors not kept';
    if (this.bufferedBytes > MAX_BUFFERED_BYTES) {
      return 'tensor retention cannot write its buffer (is the disk failing?); tensors not kept';
    }
    if (!(id instanceof Uint8Array) || id.length !== ID_BYTES)
      return 'tensors not kept: receipt id is not 32 bytes';
    if (!(Number.isSafeInteger(sequence) && sequence >= 0)) return 'tensors not kept: bad receipt sequence';
    if (!(input instanceof Uint8Array && output instanceof Uint8Array))
      return 'tensors not kept: not byte arrays';
    if (input.length > MAX_TENSOR_BYTES || output.length > MAX_TENSOR_BYTES) {
      return `tensors not kept: larger than the reveal limit of ${MAX_TENSOR_BYTES} bytes`;
    }
    return undefined;
  }

  /** The segment a put of `sequence` goes to, sealing the active one when it is full or old. */
  private segmentFor(sequence: number, now: number): Segment {
    const current = this.active;
    // Sequences only grow within a segment, so [firstSeq, lastSeq] bounds all of them.
    if (
      current !== undefined &&
      current.putBytes < this.segmentBytes &&
      now - current.createdMs < this.segmentAgeMs &&
      sequence >= (current.lastSeq ?? current.firstSeq)
    ) {
      return current;
    }
    if (current !== undefined) this.seal(current);
    const createdMs = Math.max(now, this.lastCreatedMs + 1);
    this.lastCreatedMs = createdMs;
    const seg: Segment = {
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
    this.segments.push(seg);
    this.active = seg;
    return seg;
  }

  private seal(seg: Segment): void {
    seg.sealing = true;
    if (this.active === seg) this.active = undefined;
  }

  private drop(msg: string, err?: unknown): void {
    this.dropped++;
    this.log.warn({ err, dropped: this.dropped }, msg);
  }

  private scheduleFlush(): void {
    if (!this.started || this.flushQueued) return;
    this.flushQueued = true;
    void this.enqueue(async () => {
      this.flushQueued = false;
      const active = this.active;
      if (active !== undefined && this.components.now() - active.createdMs >= this.segmentAgeMs) {
        this.seal(active);
      }
      await this.writeBuffer();
      await this.evict();
    });
  }

  private enqueue(run: () => Promise<void>): Promise<void> {
    const next = this.queue.then(run).catch((err: unknown) => {
      this.log.error({ err, dir: this.init.dir }, 'tensor retention write failed; will retry');
    });
    this.queue = next;
    return next;
  }

  /** Appends every pending chunk to its segment file; seals the segments that are done. */
  private async writeBuffer(): Promise<void> {
    for (const seg of this.segments.filter((s) => s.live)) {
      if (seg.pending.length > 0) await this.writeSegment(seg);
      if (seg.sealing && seg.pending.length === 0) await this.sealFile(seg);
    }
  }

  private async writeSegment(seg: Segment): Promise<void> {
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
        this.bytesUsed += c.used;
        this.entries += c.records;
        this.bufferedBytes -= c.used;
        this.bufferedRecords -= c.records;
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
        this.bufferedBytes -= c.used;
        this.bufferedRecords -= c.records;
      }
      seg.pending = [];
      this.dropped += lost;
      this.seal(seg);
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
      this.dropSegment(seg);
      return;
    }
    // Only the records on disk count: a given-up segment may have lost its last ones.
    const sealed = `seg-${seg.firstSeq}-${seg.createdMs}-${seg.lastSeq}-${seg.records}.seg`;
    await rename(this.file(seg), path.join(this.init.dir, sealed));
    seg.name = sealed;
    seg.open = false;
  }

  private dropSegment(seg: Segment): void {
    this.segments = this.segments.filter((s) => s !== seg);
  }

  /** Segments left open by a crash: read once to learn their range, then sealed. */
  private async sealLeftovers(): Promise<void> {
    for (const seg of this.segments.filter((s) => s.open && !s.live)) {
      const data = await readFile(this.file(seg));
      const scan = scanRecords(data);
      this.entries += scan.records;
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

  /** Deletes the oldest segments while their newest entry is past retentionMs or the disk is over budget. */
  private async evict(): Promise<void> {
    const cutoff = this.components.now() - this.init.retentionMs;
    let byAge = 0;
    let byBytes = 0;
    for (;;) {
      const seg = this.segments[0];
      // A segment still being written, or left open and not scanned yet, is not evicted.
      if (seg === undefined || seg.live || seg.open) break;
      const old = seg.newestMs < cutoff;
      if (!old && this.bytesUsed <= this.init.maxBytes) break;
      await unlink(this.file(seg)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.segments.shift();
      this.entries -= seg.records;
      this.bytesUsed -= seg.bytes;
      this.evicted += seg.records;
      if (old) byAge += seg.records;
      else byBytes += seg.records;
    }
    if (byAge + byBytes > 0) this.noteEvictions(byAge, byBytes);
  }

  private async lookup(receiptId: Uint8Array, sequence: number): Promise<RetainedTensors | undefined> {
    // Newest first: after a crash the newer of two records with one sequence is the likelier.
    for (const seg of [...this.segments].reverse()) {
      if (sequence < seg.firstSeq || (seg.lastSeq !== undefined && sequence > seg.lastSeq)) continue;
      for (const c of seg.pending) {
        const hit = findRecord(c.buf.subarray(0, c.used), receiptId, sequence);
        if (hit !== undefined) return hit;
      }
      if (seg.bytes === 0 && !seg.open) continue;
      let data: Buffer;
      try {
        data = await readFile(this.file(seg));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const hit = findRecord(data, receiptId, sequence);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  private file(seg: Segment): string {
    return path.join(this.init.dir, seg.name);
  }

  private async listSegments(): Promise<Segment[]> {
    const found: Segment[] = [];
    for (const name of await readdir(this.init.dir)) {
      const parsed = parseSegmentName(name);
      if (parsed === undefined) continue;
      const st = await stat(path.join(this.init.dir, name));
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

  private noteEvictions(byAge: number, byBytes: number): void {
    this.unreported.byAge += byAge;
    this.unreported.byBytes += byBytes;
    const now = this.components.now();
    if (now - this.lastWarnAtMs < EVICTION_WARN_INTERVAL_MS) return;
    this.lastWarnAtMs = now;
    this.log.warn(
      {
        ...this.unreported,
        evictedTotal: this.evicted,
        bytesUsed: this.bytesUsed,
        maxBytes: this.init.maxBytes,
      },
      'tensors evicted: receipts challenged after this cannot be revealed and their batch loses its credit ' +
        '(raise maxBytes or retentionMs if evictions by bytes are frequent)',
    );
    this.unreported = { byAge: 0, byBytes: 0 };
  }
}

async function writeAll(handle: FileHandle, buf: Buffer, length: number): Promise<void> {
  let at = 0;
  while (at < length) {
    const { bytesWritten } = await handle.write(buf, at, length - at);
    at += bytesWritten;
  }
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

interface RecordAt {
  readonly at: number;
  readonly sequence: number;
  readonly inputLength: number;
  readonly outputLength: number;
}

/** Walks the whole records of a segment; stops at a torn (or corrupt) one, which must be the last. */
function* records(data: Buffer): Generator<RecordAt> {
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= data.length) {
    const sequence = data.readUInt32BE(at + ID_BYTES) * TWO_32 + data.readUInt32BE(at + ID_BYTES + 4);
    const inputLength = data.readUInt32BE(at + ID_BYTES + 8);
    const outputLength = data.readUInt32BE(at + ID_BYTES + 12);
    if (inputLength > MAX_TENSOR_BYTES || outputLength > MAX_TENSOR_BYTES) return;
    const end = at + RECORD_HEADER_BYTES + inputLength + outputLength;
    if (end > data.length) return;
    yield { at, sequence, inputLength, outputLength };
    at = end;
  }
}

export function findRecord(
  data: Buffer,
  receiptId: Uint8Array,
  sequence: number,
): RetainedTensors | undefined {
  for (const r of records(data)) {
    if (r.sequence !== sequence || data.compare(receiptId, 0, ID_BYTES, r.at, r.at + ID_BYTES) !== 0)
      continue;
    const inputAt = r.at + RECORD_HEADER_BYTES;
    // Copies: the caller keeps them while the segment's bytes (or chunk) go.
    return {
      input: new Uint8Array(data.subarray(inputAt, inputAt + r.inputLength)),
      output: new Uint8Array(
        data.subarray(inputAt + r.inputLength, inputAt + r.inputLength + r.outputLength),
      ),
    };
  }
  return undefined;
}

export function scanRecords(data: Buffer): {
  records: number;
  lastSeq: number | undefined;
  tornBytes: number;
} {
  let count = 0;
  let lastSeq: number | undefined;
  let end = 0;
  for (const r of records(data)) {
    count++;
    lastSeq = Math.max(lastSeq ?? r.sequence, r.sequence);
    end = r.at + RECORD_HEADER_BYTES + r.inputLength + r.outputLength;
  }
  return { records: count, lastSeq, tornBytes: data.length - end };
}

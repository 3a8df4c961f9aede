import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { FieldmeshError } from '../../protocol/errors.js';
import { MAX_TENSOR_BYTES } from '../../protocol/reveal.js';
import { SegmentEviction } from './retention-eviction.js';
import { ID_BYTES, recordBytes, writeRecord } from './retention-records.js';
import {
  chunkWithRoom,
  listSegments,
  lookupRecord,
  newSegment,
  type RetentionState,
  type Segment,
  sealSegment,
} from './retention-segments.js';
import type {
  RetainedTensors,
  TensorRetention,
  TensorRetentionComponents,
  TensorRetentionInit,
  TensorRetentionStats,
} from './retention-types.js';
import { SegmentWriter } from './retention-writer.js';

export { findRecord, RECORD_HEADER_BYTES, scanRecords } from './retention-records.js';
export { parseSegmentName } from './retention-segments.js';
export type {
  RetainedTensors,
  TensorRetention,
  TensorRetentionComponents,
  TensorRetentionInit,
  TensorRetentionStats,
} from './retention-types.js';

export const FLUSH_INTERVAL_MS = 200;
export const FLUSH_BYTES = 1024 * 1024;
export const SEGMENT_BYTES = 4 * 1024 * 1024;
// Past this much unwritten data the disk is failing; put() drops rather than grow memory.
const MAX_BUFFERED_BYTES = 64 * FLUSH_BYTES;
const MIN_SEGMENT_AGE_MS = 1_000;

export class RetentionConfigError extends FieldmeshError {
  constructor(problems: readonly string[]) {
    super('RETENTION_CONFIG_INVALID', `tensor retention settings rejected: ${problems.join('; ')}`);
  }
}

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

class SegmentTensorRetention implements TensorRetention {
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private readonly segmentAgeMs: number;
  private started = false;
  private timer: NodeJS.Timeout | undefined;
  // Writes, seals, evictions and lookups run one after another, so files never move under a read.
  private queue: Promise<unknown> = Promise.resolve();
  private readonly state: RetentionState = {
    segments: [],
    active: undefined,
    entries: 0,
    bytesUsed: 0,
    evicted: 0,
    dropped: 0,
    bufferedBytes: 0,
    bufferedRecords: 0,
  };
  private readonly writer: SegmentWriter;
  private readonly eviction: SegmentEviction;
  private lastCreatedMs = Number.NEGATIVE_INFINITY;
  private flushQueued = false;

  constructor(
    private readonly init: TensorRetentionInit,
    private readonly components: TensorRetentionComponents,
  ) {
    this.log = components.logger.child({ component: 'tensor-retention' });
    const wanted = init.segmentBytes ?? SEGMENT_BYTES;
    this.segmentBytes = Math.max(1, Math.min(wanted, Math.floor(init.maxBytes / 8)));
    this.segmentAgeMs = Math.max(MIN_SEGMENT_AGE_MS, Math.floor(init.retentionMs / 8));
    this.writer = new SegmentWriter(init.dir, this.state, this.log);
    this.eviction = new SegmentEviction(init, this.state, this.log, () => components.now());
  }

  async start(): Promise<void> {
    if (this.started) return;
    const state = this.state;
    await mkdir(this.init.dir, { recursive: true });
    state.segments = await listSegments(this.init.dir);
    state.entries = state.segments.reduce((n, s) => n + s.records, 0);
    state.bytesUsed = state.segments.reduce((n, s) => n + s.bytes, 0);
    this.lastCreatedMs = state.segments.at(-1)?.createdMs ?? Number.NEGATIVE_INFINITY;
    this.started = true;
    this.timer = setInterval(() => this.scheduleFlush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
    this.log.info(
      { dir: this.init.dir, segments: state.segments.length, ...this.stats() },
      'tensor retention opened',
    );
    void this.enqueue(async () => {
      await this.writer.sealLeftovers();
      await this.eviction.evict();
    });
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    // Puts from here on are dropped, so the final write below is the last one.
    this.started = false;
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.state.active !== undefined) sealSegment(this.state, this.state.active);
    await this.enqueue(() => this.writer.writeBuffer());
    for (const s of this.state.segments) await s.handle?.close().catch(() => undefined);
  }

  put(receiptId: Uint8Array, sequence: number, input: Uint8Array, output: Uint8Array): void {
    const problem = this.putProblem(receiptId, sequence, input, output);
    if (problem !== undefined) {
      this.drop(problem);
      return;
    }
    const size = recordBytes(input, output);
    const now = this.components.now();
    const seg = this.segmentFor(sequence, now);
    writeRecord(chunkWithRoom(seg, size), receiptId, sequence, input, output);
    seg.putBytes += size;
    seg.lastSeq = sequence;
    seg.newestMs = now;
    this.state.bufferedBytes += size;
    this.state.bufferedRecords++;
    if (this.state.bufferedBytes >= FLUSH_BYTES) this.scheduleFlush();
  }

  async flush(): Promise<void> {
    if (!this.started) return;
    await this.enqueue(async () => {
      await this.writer.writeBuffer();
      await this.eviction.evict();
    });
  }

  get(receiptId: Uint8Array, sequence: number): Promise<RetainedTensors | undefined> {
    const run = this.queue.then(() => lookupRecord(this.init.dir, this.state.segments, receiptId, sequence));
    this.queue = run.catch(() => undefined);
    return run;
  }

  stats(): TensorRetentionStats {
    return {
      entries: this.state.entries,
      bytesUsed: this.state.bytesUsed,
      evicted: this.state.evicted,
      buffered: this.state.bufferedRecords,
      dropped: this.state.dropped,
    };
  }

  private putProblem(
    id: Uint8Array,
    sequence: number,
    input: Uint8Array,
    output: Uint8Array,
  ): string | undefined {
    if (!this.started) return 'tensor retention is not started; tensors not kept';
    if (this.state.bufferedBytes > MAX_BUFFERED_BYTES) {
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
    const current = this.state.active;
    // Sequences only grow within a segment, so [firstSeq, lastSeq] bounds all of them.
    if (
      current !== undefined &&
      current.putBytes < this.segmentBytes &&
      now - current.createdMs < this.segmentAgeMs &&
      sequence >= (current.lastSeq ?? current.firstSeq)
    ) {
      return current;
    }
    if (current !== undefined) sealSegment(this.state, current);
    const createdMs = Math.max(now, this.lastCreatedMs + 1);
    this.lastCreatedMs = createdMs;
    const seg = newSegment(sequence, createdMs, now);
    this.state.segments.push(seg);
    this.state.active = seg;
    return seg;
  }

  private drop(msg: string, err?: unknown): void {
    this.state.dropped++;
    this.log.warn({ err, dropped: this.state.dropped }, msg);
  }

  private scheduleFlush(): void {
    if (!this.started || this.flushQueued) return;
    this.flushQueued = true;
    void this.enqueue(async () => {
      this.flushQueued = false;
      const active = this.state.active;
      if (active !== undefined && this.components.now() - active.createdMs >= this.segmentAgeMs) {
        sealSegment(this.state, active);
      }
      await this.writer.writeBuffer();
      await this.eviction.evict();
    });
  }

  private enqueue(run: () => Promise<void>): Promise<void> {
    const next = this.queue.then(run).catch((err: unknown) => {
      this.log.error({ err, dir: this.init.dir }, 'tensor retention write failed; will retry');
    });
    this.queue = next;
    return next;
  }
}

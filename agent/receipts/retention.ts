import { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { FieldmeshError } from '../../protocol/errors.js';
import { decodeReveal } from '../../protocol/reveal.js';
import { writeReveal } from './receipt-writer.js';

/**
 * Keeps the input and output tensor bytes of recent jobs so that a receipt challenged by a
 * spot check (docs/protocol.md §11) can be revealed. Losing them costs the batch its credit,
 * but they are not worth an fsync per job: put() only copies into memory, and a timer writes
 * the buffer in one non-sync batch every FLUSH_INTERVAL_MS (sooner when FLUSH_BYTES pile up).
 *
 * Storage (its own ClassicLevel directory):
 *   t!<16-digit ms>!<12-digit seq>!<receipt id hex>!<value bytes>  → encodeReveal(id, input, output)
 *   k!<receipt id hex>                                             → the t! key
 * The t! keys sort oldest first and carry everything eviction and restart need, so both scan
 * keys only and never read tensor bytes back.
 */
export interface TensorRetentionInit {
  readonly dir: string;
  /** Budget for stored tensors (values and keys); the oldest entries are evicted beyond it. */
  readonly maxBytes: number;
  /** Entries older than this are evicted: set it past the service's challenge deadline. */
  readonly retentionMs: number;
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
  put(receiptId: Uint8Array, input: Uint8Array, output: Uint8Array): void;
  /** Writes the buffer now and evicts; the timer does this on its own every FLUSH_INTERVAL_MS. */
  flush(): Promise<void>;
  get(receiptId: Uint8Array): Promise<RetainedTensors | undefined>;
  stats(): TensorRetentionStats;
}

export const FLUSH_INTERVAL_MS = 200;
export const FLUSH_BYTES = 1024 * 1024;
// Past this much unwritten data the disk is failing; put() drops rather than grow memory.
const MAX_BUFFERED_BYTES = 64 * FLUSH_BYTES;
const EVICTION_WARN_INTERVAL_MS = 60_000;

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
  if (problems.length > 0) throw new RetentionConfigError(problems);
  return new LevelTensorRetention(init, components);
}

type Db = ClassicLevel<string, Uint8Array>;

interface Buffered {
  readonly timeKey: string;
  readonly value: Uint8Array;
  readonly cost: number;
}

class LevelTensorRetention implements TensorRetention {
  private readonly log: Logger;
  private db: Db | undefined;
  private timer: NodeJS.Timeout | undefined;
  // Flushes and evictions run one after another, so the counters below match the disk.
  private queue: Promise<void> = Promise.resolve();
  private readonly buffer = new Map<string, Buffered>();
  private bufferedBytes = 0;
  private flushQueued = false;
  private seq = 0;
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
  }

  async start(): Promise<void> {
    if (this.db !== undefined) return;
    const db: Db = new ClassicLevel<string, Uint8Array>(this.init.dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    });
    await db.open();
    await this.rebuildCounters(db);
    this.db = db;
    this.timer = setInterval(() => this.scheduleFlush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
    this.log.info({ dir: this.init.dir, ...this.stats() }, 'tensor retention opened');
    await this.enqueue(() => this.evict(db));
  }

  async stop(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    // Puts from here on are dropped, so the final flush below is the last write.
    this.db = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.enqueue(() => this.writeBuffer(db));
    await db.close();
  }

  put(receiptId: Uint8Array, input: Uint8Array, output: Uint8Array): void {
    const value = this.encodeForPut(receiptId, input, output);
    if (value === undefined) return;
    const idHex = hexOf(receiptId);
    const key = timeKey(this.components.now(), this.seq++, idHex, value.length);
    this.unbuffer(idHex);
    const entry = { timeKey: key, value, cost: entryCost(key, idHex, value.length) };
    this.buffer.set(idHex, entry);
    this.bufferedBytes += entry.cost;
    if (this.bufferedBytes >= FLUSH_BYTES) this.scheduleFlush();
  }

  async flush(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    await this.enqueue(async () => {
      await this.writeBuffer(db);
      await this.evict(db);
    });
  }

  async get(receiptId: Uint8Array): Promise<RetainedTensors | undefined> {
    const idHex = hexOf(receiptId);
    const buffered = this.buffer.get(idHex);
    if (buffered !== undefined) return tensorsOf(buffered.value);
    const db = this.db;
    if (db === undefined) return undefined;
    const key = await db.get(indexKey(idHex));
    if (key === undefined) return undefined;
    const value = await db.get(Buffer.from(key).toString('utf8'));
    return value === undefined ? undefined : tensorsOf(value);
  }

  stats(): TensorRetentionStats {
    return {
      entries: this.entries,
      bytesUsed: this.bytesUsed,
      evicted: this.evicted,
      buffered: this.buffer.size,
      dropped: this.dropped,
    };
  }

  /** The stored value (a copy of the caller's bytes), or undefined when the put is dropped. */
  private encodeForPut(receiptId: Uint8Array, input: Uint8Array, output: Uint8Array): Uint8Array | undefined {
    if (this.db === undefined) {
      this.drop('tensor retention is not started; tensors not kept');
      return undefined;
    }
    if (this.bufferedBytes > MAX_BUFFERED_BYTES) {
      this.drop('tensor retention cannot write its buffer (is the disk failing?); tensors not kept');
      return undefined;
    }
    try {
      return writeReveal(receiptId, input, output);
    } catch (err) {
      this.drop('tensors cannot be kept', err);
      return undefined;
    }
  }

  private drop(msg: string, err?: unknown): void {
    this.dropped++;
    this.log.warn({ err, dropped: this.dropped }, msg);
  }

  private unbuffer(idHex: string): void {
    const old = this.buffer.get(idHex);
    if (old === undefined) return;
    this.buffer.delete(idHex);
    this.bufferedBytes -= old.cost;
  }

  private async rebuildCounters(db: Db): Promise<void> {
    this.entries = 0;
    this.bytesUsed = 0;
    for await (const key of db.keys(TIME_RANGE)) {
      const parsed = parseTimeKey(key);
      if (parsed === undefined) continue;
      this.entries++;
      this.bytesUsed += entryCost(key, parsed.idHex, parsed.valueBytes);
      this.seq = Math.max(this.seq, parsed.seq + 1);
    }
  }

  private scheduleFlush(): void {
    const db = this.db;
    if (db === undefined || this.flushQueued) return;
    this.flushQueued = true;
    void this.enqueue(async () => {
      this.flushQueued = false;
      await this.writeBuffer(db);
      await this.evict(db);
    });
  }

  private enqueue(run: () => Promise<void>): Promise<void> {
    const next = this.queue.then(run).catch((err: unknown) => {
      this.log.error({ err, dir: this.init.dir }, 'tensor retention write failed; will retry');
    });
    this.queue = next;
    return next;
  }

  private async writeBuffer(db: Db): Promise<void> {
    if (this.buffer.size === 0) return;
    const written = [...this.buffer.entries()];
    // A chained batch: the array form validates and copies every operation on the main thread.
    const batch = db.batch();
    for (const [idHex, e] of written) {
      batch.put(e.timeKey, e.value);
      batch.put(indexKey(idHex), Buffer.from(e.timeKey, 'latin1'));
    }
    await batch.write(); // not sync: a crash loses at most one interval of tensors
    for (const [idHex, e] of written) {
      this.entries++;
      this.bytesUsed += e.cost;
      // A put() of the same id during the write replaced the entry; keep the newer one buffered.
      if (this.buffer.get(idHex) === e) this.unbuffer(idHex);
    }
  }

  /** Deletes the oldest entries while they are past retentionMs or the disk is over budget. */
  private async evict(db: Db): Promise<void> {
    const cutoff = this.components.now() - this.init.retentionMs;
    const doomed: { key: string; idHex: string; cost: number }[] = [];
    let bytes = this.bytesUsed;
    let byAge = 0;
    for await (const key of db.keys(TIME_RANGE)) {
      const parsed = parseTimeKey(key);
      if (parsed === undefined) continue;
      const old = parsed.timeMs < cutoff;
      if (!old && bytes <= this.init.maxBytes) break;
      if (old) byAge++;
      const cost = entryCost(key, parsed.idHex, parsed.valueBytes);
      doomed.push({ key, idHex: parsed.idHex, cost });
      bytes -= cost;
    }
    if (doomed.length === 0) return;
    await this.deleteEntries(db, doomed);
    this.noteEvictions(byAge, doomed.length - byAge);
  }

  private async deleteEntries(db: Db, doomed: readonly { key: string; idHex: string; cost: number }[]) {
    const indexed = await db.getMany(doomed.map((d) => indexKey(d.idHex)));
    const ops = doomed.flatMap((d, i) => {
      const index = indexed[i];
      // The index may point at a newer entry for the same id; leave that one reachable.
      const ownsIndex = index !== undefined && Buffer.from(index).toString('utf8') === d.key;
      return ownsIndex
        ? [
            { type: 'del' as const, key: d.key },
            { type: 'del' as const, key: indexKey(d.idHex) },
          ]
        : [{ type: 'del' as const, key: d.key }];
    });
    await db.batch(ops);
    this.entries -= doomed.length;
    this.bytesUsed -= doomed.reduce((n, d) => n + d.cost, 0);
    this.evicted += doomed.length;
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

function tensorsOf(value: Uint8Array): RetainedTensors {
  // classic-level hands back Buffers; decoding copies into plain Uint8Arrays.
  const { input, output } = decodeReveal(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  return { input, output };
}

// Keys (see the module comment). Widths keep lexical order equal to (time, seq) order.
const TIME_PREFIX = 't!';
const INDEX_PREFIX = 'k!';
const TIME_RANGE = { gte: TIME_PREFIX, lt: 't"' } as const;
const TIME_KEY = /^t!(\d{16})!(\d{12})!([0-9a-f]{64})!(\d+)$/;

function timeKey(timeMs: number, seq: number, idHex: string, valueBytes: number): string {
  const ms = String(Math.max(0, timeMs)).padStart(16, '0');
  return `${TIME_PREFIX}${ms}!${String(seq).padStart(12, '0')}!${idHex}!${valueBytes}`;
}

function parseTimeKey(
  key: string,
): { timeMs: number; seq: number; idHex: string; valueBytes: number } | undefined {
  const m = TIME_KEY.exec(key);
  if (m === null) return undefined;
  return { timeMs: Number(m[1]), seq: Number(m[2]), idHex: m[3]!, valueBytes: Number(m[4]) };
}

/** Hex of the id without copying it first (Buffer.from(Uint8Array) would). */
function hexOf(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

function indexKey(idHex: string): string {
  return INDEX_PREFIX + idHex;
}

/** Bytes an entry takes: its value, its key, and the index entry pointing at it. */
function entryCost(timeKey: string, idHex: string, valueBytes: number): number {
  return valueBytes + 2 * timeKey.length + indexKey(idHex).length;
}

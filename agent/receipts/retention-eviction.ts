import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { type RetentionState, segmentFile } from './retention-segments.js';
import type { TensorRetentionInit } from './retention-types.js';

const EVICTION_WARN_INTERVAL_MS = 60_000;

/**
 * Deletes tensor retention's oldest whole segments, by age and by the byte budget, and warns
 * (at most once a minute) about the receipts that can no longer be revealed. Runs inside the
 * retention's queue.
 */
export class SegmentEviction {
  private unreported = { byAge: 0, byBytes: 0 };
  private lastWarnAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly init: Pick<TensorRetentionInit, 'dir' | 'maxBytes' | 'retentionMs'>,
    private readonly state: RetentionState,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** Deletes the oldest segments while their newest entry is past retentionMs or the disk is over budget. */
  async evict(): Promise<void> {
    const state = this.state;
    const cutoff = this.now() - this.init.retentionMs;
    let byAge = 0;
    let byBytes = 0;
    for (;;) {
      const seg = state.segments[0];
      // A segment still being written, or left open and not scanned yet, is not evicted.
      if (seg === undefined || seg.live || seg.open) break;
      const old = seg.newestMs < cutoff;
      if (!old && state.bytesUsed <= this.init.maxBytes) break;
      await unlink(segmentFile(this.init.dir, seg)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      state.segments.shift();
      state.entries -= seg.records;
      state.bytesUsed -= seg.bytes;
      state.evicted += seg.records;
      if (old) byAge += seg.records;
      else byBytes += seg.records;
    }
    if (byAge + byBytes > 0) this.noteEvictions(byAge, byBytes);
  }

  private noteEvictions(byAge: number, byBytes: number): void {
    this.unreported.byAge += byAge;
    this.unreported.byBytes += byBytes;
    const now = this.now();
    if (now - this.lastWarnAtMs < EVICTION_WARN_INTERVAL_MS) return;
    this.lastWarnAtMs = now;
    this.log.warn(
      {
        ...this.unreported,
        evictedTotal: this.state.evicted,
        bytesUsed: this.state.bytesUsed,
        maxBytes: this.init.maxBytes,
      },
      'tensors evicted: receipts challenged after this cannot be revealed and their batch loses its credit ' +
        '(raise maxBytes or retentionMs if evictions by bytes are frequent)',
    );
    this.unreported = { byAge: 0, byBytes: 0 };
  }
}

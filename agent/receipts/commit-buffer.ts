import type { ClassicLevel } from 'classic-level';
import { encodeNumber, META_NEXT_SEQ } from './records.js';

/** A receipt accepted by appendJob and not yet on disk: its records, ready to write. */
export interface BufferedReceipt {
  readonly seq: number;
  /** The r! key and its value (appendedAtMs ‖ body). */
  readonly key: string;
  readonly record: Uint8Array;
  /** The i! key. */
  readonly idKey: string;
  /** What the receipt costs in the disk budget (receiptCost). */
  readonly cost: number;
}

const SYNC = { sync: true } as const;

/**
 * The receipts waiting for the outbox's next group commit, in sequence order, and the one
 * synced write that makes them durable.
 */
export class CommitBuffer {
  private entries: BufferedReceipt[] = [];
  private bytes = 0;

  get length(): number {
    return this.entries.length;
  }

  /** Budget the buffered receipts will take once written. */
  get cost(): number {
    return this.bytes;
  }

  has(idKey: string): boolean {
    return this.entries.some((e) => e.idKey === idKey);
  }

  add(entry: BufferedReceipt): void {
    this.entries.push(entry);
    this.bytes += entry.cost;
  }

  clear(): void {
    this.entries = [];
    this.bytes = 0;
  }

  /**
   * Writes every buffered receipt and the next sequence in one synced batch, and resolves with
   * what it wrote. On failure the receipts stay buffered, ahead of any added meanwhile.
   */
  async commit(db: ClassicLevel<string, Uint8Array>): Promise<{ count: number; cost: number }> {
    const taken = this.entries;
    const last = taken.at(-1);
    if (last === undefined) return { count: 0, cost: 0 };
    this.entries = [];
    // A chained batch: the array form of db.batch costs ~10× more per operation on the main
    // thread (abstract-level validates and copies each one), and this runs beside inference.
    const batch = db.batch();
    let cost = 0;
    for (const e of taken) {
      batch.put(e.key, e.record);
      // Receipt keys are ASCII; Buffer.from serves them from its pool, TextEncoder allocates each.
      batch.put(e.idKey, Buffer.from(e.key, 'latin1'));
      cost += e.cost;
    }
    // Sequences are handed out in buffer order, so the last one is the highest written so far.
    batch.put(META_NEXT_SEQ, encodeNumber(last.seq + 1));
    try {
      await batch.write(SYNC);
    } catch (err) {
      this.entries = [...taken, ...this.entries];
      throw err;
    }
    this.bytes -= cost;
    return { count: taken.length, cost };
  }
}

import { stat } from 'node:fs/promises';
import { loadClassicLevel } from '../../broker/level-db.js';
import { OUTBOX_USE } from './outbox-types.js';
import { decodeInFlight, decodeNumber, META_IN_FLIGHT, META_LAST_ACK, RECEIPT_RANGE } from './records.js';

/** What an outbox holds on disk, read without an agent (for `fieldmesh receipts`). */
export interface OutboxSummary {
  readonly pending: number;
  readonly inFlightBatch: number | null;
  readonly lastAckAtMs: number | null;
}

/**
 * Opens the outbox store just long enough to count it; never writes. Resolves undefined when
 * there is no outbox at `dir`. Rejects when the store cannot be opened — typically because a
 * running agent holds its lock.
 */
export async function inspectOutbox(dir: string): Promise<OutboxSummary | undefined> {
  try {
    await stat(dir);
  } catch {
    return undefined;
  }
  const Level = await loadClassicLevel(OUTBOX_USE);
  const db = new Level<string, Uint8Array>(dir, {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
    createIfMissing: false,
  });
  await db.open();
  try {
    let pending = 0;
    for await (const _key of db.keys(RECEIPT_RANGE)) pending++;
    const inFlight = await db.get(META_IN_FLIGHT);
    return {
      pending,
      inFlightBatch: inFlight === undefined ? null : decodeInFlight(inFlight).batchSequence,
      lastAckAtMs: decodeNumber(await db.get(META_LAST_ACK)) ?? null,
    };
  } finally {
    await db.close();
  }
}

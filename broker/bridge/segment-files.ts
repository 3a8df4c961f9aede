import { open, readdir, readFile, rename, truncate, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { BridgeStoreError } from './errors.js';
import { SEGMENT_MAGIC, scanRecords } from './record-codec.js';

/**
 * The store's files and their recovery after a crash or a power cut:
 *   <dir>/<first sequence number, 16 digits>.seg   segments, oldest first
 *   <dir>/cursor                                  highest sequence number acknowledged upstream
 */

/** A segment as recovery leaves it: every byte up to `bytes` is a whole, intact record. */
export interface SegmentInfo {
  readonly path: string;
  /** Sequence number of its first record. */
  readonly startSeq: number;
  /** Records in it. */
  count: number;
  /** Its size in bytes, magic included. */
  bytes: number;
}

const SEGMENT_NAME = /^(\d{16})\.seg$/;
const CURSOR_FILE = 'cursor';

export function segmentFileName(startSeq: number): string {
  return `${String(startSeq).padStart(16, '0')}.seg`;
}

/**
 * Reads every segment in `dir`, oldest first. A segment whose tail is torn or corrupt (a write
 * cut by a power loss, a bad SD card block) is truncated after its last intact record, with a
 * warning; one with no intact record is deleted. Records after a corrupt one in the same
 * segment are lost with it: they cannot be trusted to be where their length says.
 */
export async function recoverSegments(
  dir: string,
  maxBodyBytes: number,
  log: Logger,
): Promise<SegmentInfo[]> {
  const names = (await readdir(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
  const segments: SegmentInfo[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const bytes = await readFile(file);
    const scan = scanRecords(bytes, { withMagic: true, maxBodyBytes });
    if (scan.problem !== null) {
      log.warn(
        {
          file,
          problem: scan.problem,
          keptRecords: scan.records.length,
          droppedBytes: bytes.length - scan.validEnd,
        },
        'bridge store: torn or corrupt segment tail truncated at recovery; the records before it are kept',
      );
    }
    if (scan.records.length === 0) {
      await unlink(file);
      continue;
    }
    if (scan.validEnd < bytes.length) await truncateDurably(file, scan.validEnd);
    const startSeq = Number(SEGMENT_NAME.exec(name)![1]);
    segments.push({ path: file, startSeq, count: scan.records.length, bytes: scan.validEnd });
  }
  return segments;
}

async function truncateDurably(file: string, length: number): Promise<void> {
  await truncate(file, length);
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The acknowledged position, 0 when there is none. A missing or unreadable cursor only means
 * messages are sent upstream again (at least once), so it is a warning, not a failure.
 */
export async function readCursor(dir: string, log: Logger): Promise<number> {
  const file = path.join(dir, CURSOR_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new BridgeStoreError(file, 'reading the cursor', err);
  }
  const acked = Number(text.trim());
  if (Number.isSafeInteger(acked) && acked >= 0) return acked;
  log.warn(
    { file },
    'bridge store: cursor file unreadable; every stored message will be sent upstream again',
  );
  return 0;
}

/** Replaces the cursor atomically: a power cut leaves the old one or the new one, never half. */
export async function writeCursor(dir: string, acked: number): Promise<void> {
  const file = path.join(dir, CURSOR_FILE);
  const temp = `${file}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(`${acked}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}

/** Creates a segment file holding only the magic, durably (the file and its directory entry). */
export async function createSegment(dir: string, startSeq: number) {
  const file = path.join(dir, segmentFileName(startSeq));
  const handle = await open(file, 'wx');
  try {
    await handle.write(SEGMENT_MAGIC, 0, SEGMENT_MAGIC.length, 0);
    await syncDir(dir);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return { file, handle };
}

/** fsync of a directory makes a new or renamed entry in it survive a power cut (POSIX, ext4). */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import aedesPersistenceLevel from 'aedes-persistence-level';
import type { ClassicLevel } from 'classic-level';
import type { Logger } from 'pino';
import { loadClassicLevel } from './level-db.js';
import type { BrokerStorage } from './storage.js';
import { DiskStorageError } from './storage-errors.js';

export interface DiskStorageInit {
  dir: string;
  /** fsync every write before aedes acknowledges it (LevelDB `sync: true`). */
  sync: boolean;
}

/**
 * aedes-persistence-level over a LevelDB database in `dir` (created if missing). LevelDB takes
 * an exclusive lock on the directory, so a second broker on the same directory fails here,
 * at start, with DiskStorageError rather than later on its first write.
 *
 * Unless `sync`, writes are not fsynced (LevelDB's and aedes-persistence-level's default): they
 * reach the operating system before aedes acknowledges them, so they survive the process
 * crashing, but a power cut can lose the last few seconds of them.
 */
export async function openDiskStorage(init: DiskStorageInit, logger: Logger): Promise<BrokerStorage> {
  const { dir } = init;
  const location = path.resolve(dir);
  try {
    await mkdir(location, { recursive: true });
  } catch (err) {
    throw new DiskStorageError(location, err);
  }
  const Level = await loadClassicLevel({
    part: "the broker's disk storage (broker.storage: disk)",
    without: 'set broker.storage to memory',
  });
  const db = new Level<string, Buffer>(location, { valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (err) {
    throw new DiskStorageError(location, err);
  }
  if (init.sync) syncEveryWrite(db);
  const persistence = aedesPersistenceLevel(db);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    // destroy() closes the database; a write aedes still had in flight then fails and is logged.
    closed ??= persistence.destroy().then(
      () => logger.debug({ dir: location }, 'broker disk store closed'),
      (err: Error) => {
        logger.warn({ dir: location, err: err.message }, 'broker disk store did not close cleanly');
        return db.close();
      },
    );
    return closed;
  };
  logger.debug({ dir: location, sync: init.sync }, 'broker disk store open');
  return { kind: 'disk', persistence, mq: undefined, close };
}

type WriteOptions = Record<string, unknown>;
/** classic-level's private write methods, which every public write ends in (abstract-level's contract). */
interface LevelWrites {
  _put(key: unknown, value: unknown, options: WriteOptions): Promise<void>;
  _del(key: unknown, options: WriteOptions): Promise<void>;
  _batch(operations: unknown[], options: WriteOptions): Promise<void>;
  _chainedBatch(): { _write(options: WriteOptions): Promise<void> };
}

/**
 * Makes every write of `db` wait for fsync, chained batches included. aedes-persistence-level
 * offers no write options of its own, so this sets LevelDB's `sync` where abstract-level hands
 * each write to the implementation.
 */
function syncEveryWrite(db: ClassicLevel<string, Buffer>): void {
  const writes = db as unknown as LevelWrites;
  const synced = (options: WriteOptions | undefined): WriteOptions => ({ ...options, sync: true });
  const put = writes._put.bind(db);
  writes._put = (key, value, options) => put(key, value, synced(options));
  const del = writes._del.bind(db);
  writes._del = (key, options) => del(key, synced(options));
  const batch = writes._batch.bind(db);
  writes._batch = (operations, options) => batch(operations, synced(options));
  const chainedBatch = writes._chainedBatch.bind(db);
  writes._chainedBatch = () => {
    const chained = chainedBatch();
    const write = chained._write.bind(chained);
    chained._write = (options) => write(synced(options));
    return chained;
  };
}

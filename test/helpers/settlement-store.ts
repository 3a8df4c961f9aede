import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createDatabase } from '../../bench/lib/postgres-server.js';
import { openStore, type SqlDb } from '../../settlement/store/db.js';
import { migrate } from '../../settlement/store/schema.js';

export type StoreKind = 'embedded' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['embedded', 'postgres'];

/** A fresh, migrated ledger: in-memory PGlite, or a new database on the shared test server. */
export async function openTestStore(kind: StoreKind, nowMs = Date.now()): Promise<SqlDb> {
  const db =
    kind === 'embedded'
      ? await openStore({})
      : await openStore({
          url: await createDatabase(inject('postgresUrl'), `t_${randomBytes(6).toString('hex')}`),
        });
  await migrate(db, nowMs);
  return db;
}

import { mkdir } from 'node:fs/promises';
import { FieldmeshError } from '../../protocol/errors.js';

/**
 * The one SQL surface the ledger uses, so the same statements run on the embedded store
 * (PGlite: PostgreSQL compiled to WebAssembly, no server) and on a PostgreSQL server.
 * Parameters are positional ($1, $2, …); int8 columns come back as JS numbers (every
 * amount the ledger stores is below 2^53) and bytea as Uint8Array.
 */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface SqlDb extends Sql {
  readonly kind: 'embedded' | 'postgres';
  /** Several statements, no parameters (schema set-up). */
  exec(text: string): Promise<void>;
  /** Runs `fn` in one transaction; rolls back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export class StoreOpenError extends FieldmeshError {
  constructor(where: string, detail: string, cause?: unknown) {
    super('SETTLEMENT_STORE_UNAVAILABLE', `cannot open the settlement store at ${where}: ${detail}`, {
      cause,
    });
  }
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** Where the ledger lives: a directory for the embedded store (absent: in memory), or a postgres:// URL. */
export type StoreLocation = { readonly dir?: string } | { readonly url: string };

export async function openStore(location: StoreLocation): Promise<SqlDb> {
  return 'url' in location ? openPostgres(location.url) : openEmbedded(location.dir);
}

async function openEmbedded(dir: string | undefined): Promise<SqlDb> {
  const { PGlite, types } = await import('@electric-sql/pglite');
  if (dir !== undefined) await mkdir(dir, { recursive: true });
  let db: InstanceType<typeof PGlite>;
  try {
    db = await PGlite.create(dir ?? 'memory://', {
      parsers: { [INT8_OID]: Number, [NUMERIC_OID]: Number },
      serializers: { [types.INT8]: String },
    });
  } catch (err) {
    throw new StoreOpenError(
      dir ?? 'memory',
      `${(err as Error).message}; check the directory is writable and not used by another settlement process`,
      err,
    );
  }
  const query = async <T>(text: string, params?: readonly unknown[]): Promise<T[]> =>
    (await db.query<T>(text, params as unknown[])).rows;
  return {
    kind: 'embedded',
    query,
    exec: async (text) => {
      await db.exec(text);
    },
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: async <T>(t: string, p?: readonly unknown[]) => (await tx.query<T>(t, p as unknown[])).rows,
        }),
      ),
    close: () => db.close(),
  };
}

async function openPostgres(url: string): Promise<SqlDb> {
  const pg = (await import('pg')).default;
  const parseNumber = (v: string) => Number(v);
  const typeParser = (oid: number, format?: string) =>
    oid === INT8_OID || oid === NUMERIC_OID ? parseNumber : pg.types.getTypeParser(oid, format as 'text');
  const pool = new pg.Pool({ connectionString: url, max: 4, types: { getTypeParser: typeParser } as never });
  // An idle connection dropped by the server (a restart, a failover) must not crash the
  // service: the pool replaces it, and a query caught in between fails with its own error,
  // which the HTTP layer answers with 503 so agents retry.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new StoreOpenError(
      redact(url),
      `${(err as Error).message}; check the server is running and the URL, user and password`,
      err,
    );
  }
  const asBytes = <T>(rows: T[]): T[] => rows.map(toUint8Rows);
  const query = async <T>(text: string, params?: readonly unknown[]): Promise<T[]> =>
    asBytes((await pool.query(text, params as unknown[])).rows as T[]);
  return {
    kind: 'postgres',
    query,
    exec: async (text) => {
      await pool.query(text);
    },
    transaction: async (fn) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({
          query: async <T>(t: string, p?: readonly unknown[]) =>
            asBytes((await client.query(t, p as unknown[])).rows as T[]),
        });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

// pg hands bytea back as Buffer; the ledger compares and re-encodes plain Uint8Arrays.
function toUint8Rows<T>(row: T): T {
  const out = row as Record<string, unknown>;
  for (const [k, v] of Object.entries(out)) {
    if (Buffer.isBuffer(v)) out[k] = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  return row;
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

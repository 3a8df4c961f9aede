import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { TestProject } from 'vitest/node';
import { type PostgresServer, startPostgres } from '../bench/lib/postgres-server.js';
import { type RedisServer, startRedisServer } from './helpers/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the throwaway PostgreSQL server every settlement test shares (one database each). */
    postgresUrl: string;
    /**
     * URL of the throwaway redis-server that broker tests share. Give each test its own key
     * prefix (broker storage `prefix`): Redis pub/sub ignores DB numbers.
     */
    redisUrl: string;
  }
}

let postgres: PostgresServer | undefined;
let redis: RedisServer | undefined;

/**
 * CLI and demo tests run the built `bin/fieldmesh.js`: build once (incrementally) before
 * them. Settlement tests run on the embedded store and on a real PostgreSQL server, started
 * here once for the whole run. So is a redis-server for brokers that share state.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  } catch {
    // tsc still wrote dist/; type errors are `npm run typecheck`'s to report, not every test's.
    console.warn('global setup: tsc reported type errors (above); testing the emitted build anyway');
  }
  postgres = await startPostgres({ fast: true });
  project.provide('postgresUrl', postgres.url);
  try {
    redis = await startRedisServer();
  } catch (err) {
    await postgres.stop();
    throw err;
  }
  project.provide('redisUrl', redis.url);
  return async () => {
    await postgres?.stop();
    await redis?.stop();
  };
}

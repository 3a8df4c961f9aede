import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import type { TestProject } from 'vitest/node';
import { type PostgresServer, startPostgres } from '../bench/lib/postgres-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the throwaway PostgreSQL server every settlement test shares (one database each). */
    postgresUrl: string;
  }
}

let postgres: PostgresServer | undefined;

/**
 * CLI and demo tests run the built `bin/fieldmesh.js`: build once (incrementally) before
 * them. Settlement tests run on the embedded store and on a real PostgreSQL server, started
 * here once for the whole run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  postgres = await startPostgres({ fast: true });
  project.provide('postgresUrl', postgres.url);
  return async () => {
    await postgres?.stop();
  };
}

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NodePackage } from './targets.js';

const run = promisify(execFile);

/**
 * The Node binary of a pinned `node-linux-<arch>` package, fetched once with `npm pack` (the
 * registry is the one network these builds may use) into `cacheDir`, checked against its
 * integrity, and unpacked. Resolves with the path of `bin/node`.
 */
export async function nodeBinary(pkg: NodePackage, cacheDir: string): Promise<string> {
  const dir = path.join(cacheDir, `${pkg.name}-${pkg.version}`);
  const binary = path.join(dir, 'bin', 'node');
  if (existsSync(binary)) return binary;
  await mkdir(cacheDir, { recursive: true });
  const tarball = path.join(cacheDir, `${pkg.name}-${pkg.version}.tgz`);
  if (!existsSync(tarball) || !(await integrityMatches(tarball, pkg.integrity))) {
    await rm(tarball, { force: true });
    try {
      await run('npm', ['pack', `${pkg.name}@${pkg.version}`, '--pack-destination', cacheDir], {
        maxBuffer: 1 << 24,
      });
    } catch (err) {
      throw new Error(
        `could not fetch ${pkg.name}@${pkg.version} from the npm registry: ${(err as Error).message.split('\n')[0]}. Check the registry is reachable (npm config get registry)`,
      );
    }
    if (!(await integrityMatches(tarball, pkg.integrity))) {
      throw new Error(
        `${tarball} does not match the integrity pinned in deploy/build/targets.ts; refusing to build with it`,
      );
    }
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', tmp, '--strip-components=1']);
  await rename(tmp, dir);
  return binary;
}

async function integrityMatches(file: string, integrity: string): Promise<boolean> {
  const [algorithm, expected] = integrity.split('-', 2) as [string, string];
  const actual = createHash(algorithm)
    .update(await readFile(file))
    .digest('base64');
  return actual === expected;
}

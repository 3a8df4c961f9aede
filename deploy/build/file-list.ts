import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { AppFile, AppIndex } from './sea-unpack.js';

/** Every file under `dir`, sorted by path, with sizes and modes, and the build id they make. */
export async function indexTree(dir: string): Promise<AppIndex> {
  const files: AppFile[] = [];
  const hash = createHash('sha256');
  for (const rel of await listFiles(dir)) {
    const full = path.join(dir, rel);
    const info = await stat(full);
    // Only the executable bit is kept: the same bytes give the same modes on any build machine.
    const mode = info.mode & 0o111 ? 0o755 : 0o644;
    files.push({ path: rel, size: info.size, mode });
    hash.update(`${rel}\0${mode}\0${info.size}\0`).update(await readFile(full));
  }
  return { id: hash.digest('hex').slice(0, 16), files };
}

export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(path.join(dir, prefix), { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

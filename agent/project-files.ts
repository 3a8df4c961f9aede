import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * A file that ships with fieldmesh (an example configuration, an example model), by its path
 * in the project. The project root is the nearest folder above this module that holds a
 * package.json: the checkout when run from source or from `dist/`, and the unpacked
 * application folder when run from a release executable or bundle, which keep the same layout.
 */
export function projectFile(...parts: string[]): string {
  root ??= findRoot(path.dirname(fileURLToPath(import.meta.url)));
  return path.join(root, ...parts);
}

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}

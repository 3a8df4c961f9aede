import { execFile } from 'node:child_process';
import { chmod, copyFile, cp, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { RUNTIME_FLAGS } from './runtime-flags.js';

const run = promisify(execFile);

// The armv7 launcher. It follows its own symlink (install.sh links /usr/local/bin/fieldmesh to
// it), and prefers the node it carries; where that one cannot run (OpenWrt's musl libc has no
// /lib/ld-linux-armhf.so.3) it uses the device's own node, and FIELDMESH_NODE overrides both.
// It starts node with the release's V8 flags (runtime-flags.ts).
const LAUNCHER = `#!/bin/sh
self=$(readlink -f "$0" 2>/dev/null || echo "$0")
here=$(dirname "$(dirname "$self")")
node="$FIELDMESH_NODE"
if [ -z "$node" ]; then
  node="$here/lib/node"
  if [ ! -e /lib/ld-linux-armhf.so.3 ]; then
    node=$(command -v node || true)
    if [ -z "$node" ]; then
      echo "fieldmesh: this system has no glibc for the node in $here/lib, and no node of its own; install one (OpenWrt: opkg install node) or set FIELDMESH_NODE" >&2
      exit 1
    fi
  fi
fi
exec "$node" ${RUNTIME_FLAGS.join(' ')} "$here/lib/app/fieldmesh.mjs" "$@"
`;

export interface BundleInputs {
  readonly appDir: string;
  readonly node: string;
  readonly workDir: string;
  /** Folder name inside the tarball, e.g. fieldmesh-0.1.0-linux-armv7. */
  readonly name: string;
  readonly output: string;
  /** Seconds since 1970 given to every entry, so the tarball's bytes do not depend on when. */
  readonly mtime: number;
}

/** A .tar.gz holding a folder with bin/fieldmesh, lib/node and lib/app. */
export async function buildBundle(inputs: BundleInputs): Promise<void> {
  const top = path.join(inputs.workDir, inputs.name);
  await rm(inputs.workDir, { recursive: true, force: true });
  await mkdir(path.join(top, 'bin'), { recursive: true });
  await mkdir(path.join(top, 'lib'), { recursive: true });
  await writeFile(path.join(top, 'bin/fieldmesh'), LAUNCHER, { mode: 0o755 });
  await chmod(path.join(top, 'bin/fieldmesh'), 0o755);
  await copyFile(inputs.node, path.join(top, 'lib/node'));
  await chmod(path.join(top, 'lib/node'), 0o755);
  await cp(inputs.appDir, path.join(top, 'lib/app'), { recursive: true });
  const tar = [
    '--sort=name',
    `--mtime=@${inputs.mtime}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mode=go-w',
    '--format=gnu',
    '-C',
    inputs.workDir,
    '-cf',
    '-',
    inputs.name,
  ];
  // gzip -n leaves the name and time out of the header.
  await run('sh', ['-c', `tar ${tar.map(quote).join(' ')} | gzip -9 -n > ${quote(inputs.output)}`], {
    maxBuffer: 1 << 20,
  });
}

function quote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

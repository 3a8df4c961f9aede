// The main script inside a release executable (Node's single-executable feature). It unpacks
// the application the executable carries, once per build, and starts the CLI from there:
// native bindings and WebAssembly files can only be loaded from real files.
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { getAsset, getRawAsset } from 'node:sea';
import { pathToFileURL } from 'node:url';
import { type AppIndex, ensureUnpacked, runtimeBase, UnpackError } from './sea-unpack.js';

async function main(): Promise<void> {
  const index = JSON.parse(getAsset('app.json', 'utf8')) as AppIndex;
  const base = runtimeBase(process.env, safeHome(), tmpdir(), process.getuid?.() ?? 0);
  const dir = ensureUnpacked(
    index,
    (file) => new Uint8Array(getRawAsset(`app/${file}`) as ArrayBuffer),
    base,
  );
  await import(pathToFileURL(path.join(dir, 'fieldmesh.mjs')).href);
}

function safeHome(): string {
  try {
    return homedir();
  } catch {
    return '';
  }
}

main().catch((err: unknown) => {
  if (err instanceof UnpackError) process.stderr.write(`error: ${err.message}\n`);
  else process.stderr.write(`unexpected failure while starting: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});

import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'vitest';
import { type Run, runProgram } from '../helpers/run-program.js';

export { type Run, runProgram } from '../helpers/run-program.js';

/** The release folder `npm run build:dist` fills, and what is in it. */
export const RELEASE = path.resolve('release');
export const VERSION = JSON.parse(readFileSync('package.json', 'utf8')).version as string;

export function artifact(target: 'linux-x64' | 'linux-arm64' | 'linux-armv7'): string {
  const name = `fieldmesh-${VERSION}-${target}`;
  return path.join(RELEASE, target === 'linux-armv7' ? `${name}.tar.gz` : name);
}

/** The last summary the demo printed, from its `fieldmesh demo:` line on. */
export function demoSummary(stdout: string): {
  results: number;
  made: number;
  acknowledged: number;
  credited: number;
  text: string;
} {
  const text = stdout.slice(stdout.lastIndexOf('fieldmesh demo:'));
  const receipts = /demo-gateway receipts made (\d+)\s+acknowledged (\d+).*credited (\d+)/.exec(text);
  return {
    results: Number(/results (\d+)/.exec(text)?.[1] ?? Number.NaN),
    made: Number(receipts?.[1] ?? Number.NaN),
    acknowledged: Number(receipts?.[2] ?? Number.NaN),
    credited: Number(receipts?.[3] ?? Number.NaN),
    text,
  };
}

/** The armv7 bundle unpacked into a fresh folder; resolves with that folder and the bundle's top folder. */
export async function extractArmv7Bundle(): Promise<{ dir: string; top: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fm-armv7-'));
  const tar = await runProgram('tar', ['-xzf', artifact('linux-armv7'), '-C', dir], { timeoutMs: 60_000 });
  expect(tar.code).toBe(0);
  return { dir, top: path.join(dir, `fieldmesh-${VERSION}-linux-armv7`) };
}

/** An executable copied into a fresh folder where no node_modules is in reach, as on a device. */
export async function placeExecutable(
  target: 'linux-x64' | 'linux-arm64',
): Promise<{ dir: string; exe: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), `fm-${target}-`));
  const exe = path.join(dir, 'fieldmesh');
  await copyFile(artifact(target), exe);
  await chmod(exe, 0o755);
  return { dir, exe };
}

/**
 * A demo run that ended cleanly with an inference and a receipt round trip: results published,
 * receipts made, acknowledged and credited by the settlement service. Resolves with its summary.
 */
export function expectDemoRoundTrip(run: Run): ReturnType<typeof demoSummary> {
  expect(run.stderr).not.toMatch(/unexpected failure|Cannot find/);
  expect(run.code).toBe(0);
  const s = demoSummary(run.stdout);
  expect(s.results).toBeGreaterThan(0);
  expect(s.made).toBeGreaterThan(0);
  expect(s.acknowledged).toBeGreaterThan(0);
  expect(s.credited).toBeGreaterThan(0);
  return s;
}

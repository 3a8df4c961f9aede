import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { RELEASE, runProgram } from './artifacts.js';

function sums(text: string): Map<string, string> {
  return new Map(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(66), line.slice(0, 64)] as [string, string]),
  );
}

it('gives the same bytes when built again from the same commit', async () => {
  const out = await mkdtemp(path.join(tmpdir(), 'fm-rebuild-'));
  const build = await runProgram(
    process.execPath,
    ['dist/deploy/build/main.js', '--target', 'linux-x64', '--target', 'linux-armv7', '--out', out],
    { env: { HOME: process.env.HOME }, timeoutMs: 240_000 },
  );
  expect(build.stderr).toBe('');
  expect(build.code).toBe(0);
  const first = sums(await readFile(path.join(RELEASE, 'SHA256SUMS'), 'utf8'));
  const again = sums(await readFile(path.join(out, 'SHA256SUMS'), 'utf8'));
  expect(again.size).toBe(5); // two artifacts, install.sh and its two service files
  for (const [name, digest] of again) expect(`${name} ${digest}`).toBe(`${name} ${first.get(name)}`);
});

import { mkdir, mkdtemp, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUNTIME_FLAGS } from '../../deploy/build/runtime-flags.js';
import { newSystemImage } from '../helpers/system-image.js';
import { artifact, expectDemoRoundTrip, placeExecutable, RELEASE, runProgram, VERSION } from './artifacts.js';

const place = () => placeExecutable('linux-x64');

describe('the linux-x64 executable', () => {
  it('runs the demo (broker, agent, peer, settlement) on its own, with no node_modules present', async () => {
    const { dir, exe } = await place();
    const home = path.join(dir, 'home');
    await mkdir(home);
    const run = await runProgram(
      exe,
      ['demo', '--duration', '13', '--port', '0', '--data-dir', path.join(dir, 'data')],
      {
        cwd: dir,
        env: { HOME: home },
        timeoutMs: 90_000,
      },
    );
    const s = expectDemoRoundTrip(run);
    expect(s.results).toBeGreaterThan(100);
    expect(s.text).toMatch(/detections [1-9]\d* on: .*press-1/);
    expect(Number(/demo-peer-1 ran (\d+) windows for the gateway/.exec(s.text)?.[1])).toBeGreaterThan(0);
    // It ran the native onnxruntime it carries, unpacked under ~/.cache/fieldmesh/<build id>.
    const builds = await readdir(path.join(home, '.cache/fieldmesh'));
    expect(builds).toHaveLength(1);
    const lib = path.join(
      home,
      '.cache/fieldmesh',
      builds[0] as string,
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
    );
    expect((await stat(lib)).size).toBeGreaterThan(1_000_000);
    // No deprecation or experimental warnings from Node 24 reach the operator.
    expect(run.stderr).not.toMatch(/DeprecationWarning|ExperimentalWarning/);
  });

  it('unpacks once per build, again when a file was damaged, and clears what a power cut left', async () => {
    const { dir, exe } = await place();
    const rt = path.join(dir, 'runtime');
    const env = { FIELDMESH_RUNTIME_DIR: rt, HOME: dir };
    const first = await runProgram(exe, ['--version'], { env, timeoutMs: 30_000 });
    expect(first.stdout.trim()).toBe(VERSION);
    // It runs on the Node it embeds, with the release's V8 flags (deploy/build/runtime-flags.ts).
    const info = JSON.parse(
      (await runProgram(exe, ['version', '--json'], { env, timeoutMs: 30_000 })).stdout,
    );
    expect(info).toMatchObject({ version: VERSION, platform: 'linux-x64', flags: [...RUNTIME_FLAGS] });
    expect(info.node).toMatch(/^v24\./);
    const [id] = await readdir(rt);
    const mark = path.join(rt, id as string, '.unpacked');
    const unpackedAt = (await stat(mark)).mtimeMs;
    // A leftover of an unpack cut short by power loss (its process is gone).
    await mkdir(path.join(rt, `${id}.tmp-999999`));
    await writeFile(path.join(rt, `${id}.tmp-999999`, 'half'), 'x');
    expect((await runProgram(exe, ['--version'], { env, timeoutMs: 30_000 })).stdout.trim()).toBe(VERSION);
    expect((await stat(mark)).mtimeMs).toBe(unpackedAt);
    // A file cut short (a bad SD card) is noticed by its size, and the build unpacked again.
    const bundle = path.join(rt, id as string, 'fieldmesh.mjs');
    const size = (await stat(bundle)).size;
    await truncate(bundle, 100);
    expect((await runProgram(exe, ['--version'], { env, timeoutMs: 30_000 })).stdout.trim()).toBe(VERSION);
    expect((await stat(bundle)).size).toBe(size);
    expect((await readdir(rt)).sort()).toEqual([id]);
  });

  it('says where it could not unpack and what to set, without a stack trace', async () => {
    const { dir, exe } = await place();
    const blocker = path.join(dir, 'a-file');
    await writeFile(blocker, '');
    const run = await runProgram(exe, ['--version'], {
      env: { FIELDMESH_RUNTIME_DIR: path.join(blocker, 'runtime'), HOME: dir },
      timeoutMs: 30_000,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/could not unpack its runtime files into .*a-file\/runtime: ENOTDIR/);
    expect(run.stderr).toMatch(/Set FIELDMESH_RUNTIME_DIR to a writable folder/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('is listed in SHA256SUMS with every other artifact, as sha256sum -c checks them', async () => {
    const run = await runProgram('sha256sum', ['-c', 'SHA256SUMS'], { cwd: RELEASE, timeoutMs: 60_000 });
    expect(run.code).toBe(0);
    for (const t of ['linux-x64', 'linux-arm64', 'linux-armv7'] as const) {
      expect(run.stdout).toContain(`${path.basename(artifact(t))}: OK`);
    }
  });

  it('installs with deploy/install.sh into a throwaway root, and the installed command runs', async () => {
    const root = await newSystemImage(await mkdtemp(path.join(tmpdir(), 'fm-root-')));
    const env = { HOME: root, FIELDMESH_RUNTIME_DIR: path.join(root, 'rt') };
    const install = await runProgram(
      'sh',
      ['deploy/install.sh', '--root', root, '--init', 'systemd', artifact('linux-x64')],
      {
        env,
        timeoutMs: 60_000,
      },
    );
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    const installed = path.join(root, 'opt/fieldmesh/releases', VERSION, 'bin/fieldmesh');
    const run = await runProgram(installed, ['--version'], { env, timeoutMs: 30_000 });
    expect(run.stdout.trim()).toBe(VERSION);
    // The node key was made by the real executable, for the service user.
    const data = await readdir(path.join(root, 'var/lib/fieldmesh'));
    expect(data.some((f) => /key/.test(f))).toBe(true);
    expect((await stat(path.join(root, 'etc/systemd/system/fieldmesh.service'))).isFile()).toBe(true);
    const again = await runProgram(
      'sh',
      ['deploy/install.sh', '--root', root, '--init', 'systemd', artifact('linux-x64')],
      {
        env,
        timeoutMs: 60_000,
      },
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already installed/);
  });
});

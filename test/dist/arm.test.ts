import { readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_FLAGS } from '../../deploy/build/runtime-flags.js';
import { ensureSysroot, qemuArgs, qemuAvailable, type Sysroot } from '../helpers/qemu-sysroot.js';
import {
  expectDemoRoundTrip,
  extractArmv7Bundle,
  placeExecutable,
  runProgram,
  VERSION,
} from './artifacts.js';

/*
 * The ARM artifacts under user-mode emulation (Debian's qemu-user-static, with a sysroot made
 * from Debian's arm64/armhf C libraries; see test/helpers/qemu-sysroot.ts). Each runs the demo
 * on its own: embedded broker, one agent, simulated sensors and the settlement service, so an
 * inference and a receipt round trip (made, acknowledged, credited) happen on the emulated
 * machine. The demo is short and small: emulation runs about ten times slower than the host.
 */
const DEMO = ['demo', '--peers', '0', '--machines', '1', '--rate', '20', '--port', '0'];

function emulated(arch: 'arm64' | 'armv7'): Promise<Sysroot> {
  const why = qemuAvailable(arch);
  if (why !== undefined) throw new Error(`the ARM release tests need user-mode emulation: ${why}`);
  return ensureSysroot(arch);
}

describe('the linux-arm64 executable under qemu-aarch64', () => {
  let sysroot: Sysroot;
  beforeAll(async () => {
    sysroot = await emulated('arm64');
  });

  it('runs an inference and a receipt round trip with its native onnxruntime', async () => {
    const { dir, exe } = await placeExecutable('linux-arm64');
    const rt = path.join(dir, 'runtime');
    const q = qemuArgs(sysroot, exe, [...DEMO, '--duration', '30', '--data-dir', path.join(dir, 'data')]);
    const run = await runProgram(q.command, q.args, {
      cwd: dir,
      env: { HOME: dir, FIELDMESH_RUNTIME_DIR: rt },
      timeoutMs: 240_000,
    });
    expectDemoRoundTrip(run);
    // What ran was the arm64 build of onnxruntime the executable carries.
    const [id] = await readdir(rt);
    const lib = path.join(rt, id as string, 'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64');
    expect((await stat(path.join(lib, 'libonnxruntime.so.1'))).size).toBeGreaterThan(1_000_000);
  });
});

describe('the linux-armv7 bundle under qemu-arm', () => {
  let sysroot: Sysroot;
  beforeAll(async () => {
    sysroot = await emulated('armv7');
  });

  it('unpacks, starts through its launcher and runs the round trip on WebAssembly', async () => {
    const { dir, top } = await extractArmv7Bundle();
    // No native onnxruntime ships for 32-bit ARM.
    await expect(stat(path.join(top, 'lib/app/node_modules/onnxruntime-node'))).rejects.toThrow();
    // The launcher runs its node through a wrapper, as binfmt_misc would on a host that has it.
    const wrapper = path.join(dir, 'node-under-qemu');
    const q = qemuArgs(sysroot, path.join(top, 'lib/node'), []);
    await writeFile(
      wrapper,
      `#!/bin/sh\nexec ${[q.command, ...q.args].map((a) => `'${a}'`).join(' ')} "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const env = { HOME: dir, FIELDMESH_NODE: wrapper };
    const launcher = path.join(top, 'bin/fieldmesh');
    const version = await runProgram(launcher, ['--version'], { env, timeoutMs: 60_000 });
    expect(version.stdout.trim()).toBe(VERSION);
    // The launcher starts node with the release's V8 flags (deploy/build/runtime-flags.ts).
    const info = JSON.parse(
      (await runProgram(launcher, ['version', '--json'], { env, timeoutMs: 60_000 })).stdout,
    );
    expect(info).toMatchObject({ version: VERSION, platform: 'linux-arm', flags: [...RUNTIME_FLAGS] });
    const run = await runProgram(
      launcher,
      [...DEMO, '--duration', '45', '--data-dir', path.join(dir, 'data')],
      {
        cwd: dir,
        env,
        timeoutMs: 280_000,
      },
    );
    expectDemoRoundTrip(run);
  });
});

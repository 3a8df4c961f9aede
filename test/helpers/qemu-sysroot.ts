import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The ARM targets we ship: a linux-arm64 single executable and a linux-armv7 bundle. */
export type EmulatedArch = 'arm64' | 'armv7';

/** A Debian userland (loader, libc, libstdc++) for one ARM arch, and the qemu that runs it. */
export interface Sysroot {
  readonly arch: EmulatedArch;
  /** Passed to qemu as `-L`: the guest's `/lib/ld-linux-*.so.*` and `/proc/cpuinfo` live here. */
  readonly dir: string;
  /** Absolute path of qemu-aarch64-static resp. qemu-arm-static. */
  readonly qemu: string;
}

interface ArchRecipe {
  readonly qemu: string;
  readonly debianArch: string;
  readonly packages: readonly string[];
  /** The dynamic loader the npm Node binaries ask for; its presence proves the unpack worked. */
  readonly loader: string;
  readonly cpuinfo: string;
}

/*
 * qemu 7.2 passes the host's x86 /proc/cpuinfo through to the guest, except that it looks under
 * `-L` first. onnxruntime's arm64 build parses it while loading (pytorch/cpuinfo) and segfaults
 * on x86 text, so every sysroot carries a plausible ARM one: a Raspberry Pi 4's Cortex-A72.
 * The processor count need not match the host (libuv takes os.cpus() counts from /proc/stat).
 */
function cpuinfo(block: (n: number) => string, trailer = ''): string {
  return [0, 1, 2, 3].map(block).join('') + trailer;
}

const RECIPES: Readonly<Record<EmulatedArch, ArchRecipe>> = {
  arm64: {
    qemu: 'qemu-aarch64-static',
    debianArch: 'arm64',
    packages: ['libc6', 'libstdc++6', 'libgcc-s1'],
    loader: 'lib/ld-linux-aarch64.so.1',
    cpuinfo: cpuinfo(
      (n) =>
        `processor\t: ${n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n` +
        'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n' +
        'CPU revision\t: 3\n\n',
    ),
  },
  armv7: {
    qemu: 'qemu-arm-static',
    debianArch: 'armhf',
    // The npm armv7l Node binary also links libatomic.so.1 (the arm64 one does not).
    packages: ['libc6', 'libstdc++6', 'libgcc-s1', 'libatomic1'],
    loader: 'lib/ld-linux-armhf.so.3',
    cpuinfo: cpuinfo(
      (n) =>
        `processor\t: ${n}\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nBogoMIPS\t: 108.00\n` +
        'Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae ' +
        'evtstrm crc32\nCPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\n' +
        'CPU part\t: 0xd08\nCPU revision\t: 3\n\n',
      'Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n',
    ),
  },
};

/** Bump when a recipe changes, so cached sysroots built from the old one are not reused. */
const LAYOUT = 1;

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where sysroots are cached: FIELDMESH_QEMU_CACHE, else node_modules/.cache (git-ignored). */
export function sysrootCacheDir(): string {
  return process.env.FIELDMESH_QEMU_CACHE ?? path.join(REPO_ROOT, 'node_modules', '.cache', 'fieldmesh-qemu');
}

/** A failure to build a sysroot: says which step, which command, and what to do about it. */
export class SysrootError extends Error {
  readonly code = 'ERR_QEMU_SYSROOT';
  override readonly name = 'SysrootError';
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Why ARM binaries cannot run here (undefined when they can): qemu's user-mode emulators and
 * the apt/dpkg tools that fetch the guest libraries. Checks both arches unless given one.
 * Mirror access is only known once ensureSysroot tries it.
 */
export function qemuAvailable(arch?: EmulatedArch): string | undefined {
  const arches: EmulatedArch[] = arch === undefined ? ['arm64', 'armv7'] : [arch];
  const missing = arches.map((a) => RECIPES[a].qemu).filter((command) => onPath(command) === undefined);
  if (missing.length > 0) {
    return `${missing.join(' and ')} not on PATH: install Debian's qemu-user-static (apt-get install -y qemu-user-static)`;
  }
  for (const tool of ['apt-get', 'dpkg-deb']) {
    if (onPath(tool) === undefined) return `${tool} not on PATH: ARM sysroots are built from Debian packages`;
  }
  return undefined;
}

/** The command line that runs an ARM `program` under qemu with the sysroot's libraries. */
export function qemuArgs(
  sysroot: Sysroot,
  program: string,
  args: readonly string[] = [],
): { command: string; args: string[] } {
  return { command: sysroot.qemu, args: ['-L', sysroot.dir, program, ...args] };
}

const building = new Map<EmulatedArch, Promise<Sysroot>>();

/**
 * Returns the cached sysroot for `arch`, building it first if needed (a few seconds and about
 * 10 MB (armv7) / 25 MB (arm64), fetched from the Debian mirrors apt is configured with).
 * Leaves the machine's dpkg and apt state alone: apt runs with a private architecture, lists
 * and cache. Safe when several vitest workers call it at once: each builds in its own
 * temporary directory and renames it into place; the first rename wins and the others are
 * discarded.
 */
export function ensureSysroot(arch: EmulatedArch): Promise<Sysroot> {
  let pending = building.get(arch);
  if (pending === undefined) {
    pending = locateOrBuild(arch);
    building.set(arch, pending);
    pending.catch(() => building.delete(arch));
  }
  return pending;
}

async function locateOrBuild(arch: EmulatedArch): Promise<Sysroot> {
  const recipe = RECIPES[arch];
  const reason = qemuAvailable(arch);
  if (reason !== undefined) throw new SysrootError(`cannot run ${arch} binaries: ${reason}`);
  const qemu = onPath(recipe.qemu)!;
  const cache = sysrootCacheDir();
  const dir = path.join(cache, `${arch}-v${LAYOUT}`);
  if (await exists(path.join(dir, recipe.loader))) return { arch, dir, qemu };
  await mkdir(cache, { recursive: true });
  const work = await mkdtemp(path.join(cache, `.${arch}-build-`));
  try {
    const root = await buildIn(work, arch, recipe);
    try {
      await rename(root, dir);
    } catch (err) {
      // Another worker renamed its sysroot into place first: theirs is as good as ours.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await exists(path.join(dir, recipe.loader)))) {
        throw new SysrootError(`could not move the ${arch} sysroot into ${dir}`, { cause: err });
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { arch, dir, qemu };
}

async function buildIn(work: string, arch: EmulatedArch, recipe: ArchRecipe): Promise<string> {
  const debs = path.join(work, 'debs');
  const root = path.join(work, 'root');
  for (const sub of ['lists/partial', 'cache/archives/partial', 'debs', 'root/proc']) {
    await mkdir(path.join(work, sub), { recursive: true });
  }
  const apt = [
    '-q',
    '-o',
    `APT::Architecture=${recipe.debianArch}`,
    '-o',
    `APT::Architectures=${recipe.debianArch}`,
    '-o',
    `Dir::State::Lists=${path.join(work, 'lists')}`,
    '-o',
    `Dir::Cache=${path.join(work, 'cache')}`,
    // The host's dpkg database lists amd64 packages only; do not let apt weigh them.
    '-o',
    'Dir::State::status=/dev/null',
    '-o',
    'Acquire::Languages=none',
    // apt's _apt download user cannot write into our private (possibly 0700) directories.
    '-o',
    'APT::Sandbox::User=root',
  ];
  // A half-synced mirror can fail one index (say bookworm-security's) yet leave the main one
  // usable, and apt-get update exits 0 when it cannot reach a mirror at all: only a failed
  // download is fatal, and then whatever the update complained about is shown with it.
  const update = await tool('apt-get', [...apt, 'update'], work);
  const download = await tool('apt-get', [...apt, 'download', ...recipe.packages], debs);
  if (download.failed) {
    throw new SysrootError(
      `could not download Debian's ${recipe.debianArch} ${recipe.packages.join(', ')} for the ${arch} ` +
        `sysroot (apt-get ${[...apt, 'download'].join(' ')}): ${download.stderr}` +
        (update.stderr === '' ? '' : `\napt-get update said: ${update.stderr}`) +
        "\nThis needs access to Debian's mirrors (the sources in /etc/apt/sources.list[.d], or a " +
        'proxy set in an APT_CONFIG file).',
    );
  }
  for (const deb of await readdir(debs)) {
    const unpack = await tool('dpkg-deb', ['-x', path.join(debs, deb), root], work);
    if (unpack.failed) throw new SysrootError(`could not unpack ${deb} (dpkg-deb -x): ${unpack.stderr}`);
  }
  if (!(await exists(path.join(root, recipe.loader)))) {
    throw new SysrootError(`the ${arch} sysroot has no ${recipe.loader} after unpacking ${debs}`);
  }
  await rm(path.join(root, 'usr/share'), { recursive: true, force: true });
  await writeFile(path.join(root, 'proc/cpuinfo'), recipe.cpuinfo);
  return root;
}

/** Runs a tool to completion; never rejects, so callers decide which failures matter. */
async function tool(
  command: string,
  args: readonly string[],
  cwd: string,
): Promise<{ failed: boolean; stderr: string }> {
  try {
    const { stderr } = await run(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return { failed: false, stderr: stderr.trim() };
  } catch (err) {
    const { stderr, message } = err as { stderr?: string; message: string };
    return { failed: true, stderr: stderr?.trim() || message };
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

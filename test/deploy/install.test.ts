import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../agent/config/load.js';
import { newSystemImage } from '../helpers/system-image.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const INSTALL = path.join(REPO, 'deploy/install.sh');
const UNIT = path.join(REPO, 'deploy/systemd/fieldmesh.service');
const INIT = path.join(REPO, 'deploy/openwrt/fieldmesh.init');
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

interface Run {
  code: number | null;
  out: string;
  err: string;
}

let work: string;
let exe: string;
let tarball: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-install-'));
  // A stand-in release executable: the real CLI of this checkout (built to dist/).
  exe = path.join(work, 'fieldmesh-0.1.0-linux-x64');
  await writeFile(
    exe,
    `#!/bin/sh\nexec "${process.execPath}" "${path.join(REPO, 'bin/fieldmesh.js')}" "$@"\n`,
  );
  await chmod(exe, 0o755);
  // The armv7 tarball shape: one folder fieldmesh-<version>-linux-armv7 with bin/fieldmesh.
  const folder = path.join(work, 'tar/fieldmesh-0.2.0-linux-armv7');
  await mkdir(path.join(folder, 'bin'), { recursive: true });
  await writeFile(path.join(folder, 'bin/fieldmesh'), await readFile(exe));
  tarball = path.join(work, 'fieldmesh-0.2.0-linux-armv7.tar.gz');
  execFileSync('tar', ['-czf', tarball, '-C', path.join(work, 'tar'), 'fieldmesh-0.2.0-linux-armv7']);
});

/** A fresh system image with the account files a Debian root has. */
function newRoot(name: string): Promise<string> {
  return newSystemImage(path.join(work, name));
}

/** Every path under root with its type, mode, owner, mtime, size, link target and content hash. */
async function snapshot(root: string): Promise<string[]> {
  const rows: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const s = await lstat(p);
      let extra = '';
      if (s.isSymbolicLink()) extra = `-> ${await readlink(p)}`;
      else if (s.isFile())
        extra = createHash('sha256')
          .update(await readFile(p))
          .digest('hex');
      rows.push(
        `${path.relative(root, p)} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${s.mtimeMs} ${s.size} ${extra}`,
      );
      if (s.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return rows;
}

const mode = async (p: string) => (await stat(p)).mode & 0o777;
const current = (root: string) => readlink(path.join(root, 'opt/fieldmesh/current'));
const previous = (root: string) => readlink(path.join(root, 'opt/fieldmesh/previous'));
const releases = async (root: string) => (await readdir(path.join(root, 'opt/fieldmesh/releases'))).sort();

const SHELLS: { name: string; argv: string[]; missing?: string }[] = [
  { name: 'sh', argv: ['sh'] },
  {
    name: 'dash',
    argv: ['dash'],
    ...(has('dash') ? {} : { missing: 'dash is not installed (apt-get install dash)' }),
  },
  {
    name: 'busybox ash',
    argv: ['busybox', 'sh'],
    ...(has('busybox') ? {} : { missing: 'busybox is not installed (apt-get install busybox)' }),
  },
];

for (const shell of SHELLS) {
  const run = (...args: string[]): Run => {
    const r = spawnSync(shell.argv[0]!, [...shell.argv.slice(1), INSTALL, ...args], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const ok = (...args: string[]): Run => {
    const r = run(...args);
    if (r.code !== 0) throw new Error(`install.sh ${args.join(' ')} exited ${r.code}:\n${r.out}${r.err}`);
    return r;
  };
  const tag = shell.name.replace(/\W/g, '-');
  // install.sh creates a user and chowns files: it refuses to run as anyone but root.
  if (process.getuid?.() !== 0) shell.missing ??= 'these tests run install.sh, which needs root';
  if (shell.missing) console.warn(`skipping install.sh under ${shell.name}: ${shell.missing}`);

  describe.skipIf(shell.missing !== undefined)(`install.sh under ${shell.name}`, () => {
    it('installs the layout, user, config, node key and unit with the right owners and modes', async () => {
      const root = await newRoot(`fresh-${tag}`);
      const r = ok('--root', root, exe);
      expect(r.out).toContain('installed 0.1.0');
      expect(await current(root)).toBe('releases/0.1.0');
      expect(await mode(path.join(root, 'opt/fieldmesh/releases/0.1.0/bin/fieldmesh'))).toBe(0o755);
      expect(await readlink(path.join(root, 'usr/local/bin/fieldmesh'))).toBe(
        '/opt/fieldmesh/current/bin/fieldmesh',
      );
      const passwd = await readFile(path.join(root, 'etc/passwd'), 'utf8');
      // 200 and 201 are taken: the first free system id is 202, for both user and group.
      expect(passwd).toContain('fieldmesh:x:202:202:fieldmesh agent:/var/lib/fieldmesh:');
      expect(await readFile(path.join(root, 'etc/group'), 'utf8')).toContain('\nfieldmesh:x:202:\n');
      expect(await readFile(path.join(root, 'etc/shadow'), 'utf8')).toMatch(/\nfieldmesh:!:/);
      expect(await mode(path.join(root, 'etc/shadow'))).toBe(0o640);
      const etc = await stat(path.join(root, 'etc/fieldmesh'));
      expect([etc.uid, etc.gid, etc.mode & 0o777]).toEqual([0, 202, 0o750]);
      const cfg = await stat(path.join(root, 'etc/fieldmesh/config.yaml'));
      expect([cfg.uid, cfg.gid, cfg.mode & 0o777]).toEqual([0, 202, 0o640]);
      const data = await stat(path.join(root, 'var/lib/fieldmesh'));
      expect([data.uid, data.gid, data.mode & 0o777]).toEqual([202, 202, 0o750]);
      const key = await stat(path.join(root, 'var/lib/fieldmesh/node-key.json'));
      expect([key.uid, key.mode & 0o777]).toEqual([202, 0o600]);
      const config = await loadConfigFile(path.join(root, 'etc/fieldmesh/config.yaml'), { env: {} });
      expect(config.node.dataDir).toBe('/var/lib/fieldmesh');
      expect(config.broker).toMatchObject({ enabled: true, host: '127.0.0.1', port: 1883 });
      const unit = await readFile(path.join(root, 'etc/systemd/system/fieldmesh.service'), 'utf8');
      expect(unit).toBe(await readFile(UNIT, 'utf8'));
    });

    it('changes no file on a second run with the same artifact, and says so', async () => {
      const root = await newRoot(`again-${tag}`);
      ok('--root', root, exe);
      const before = await snapshot(root);
      const again = ok('--root', root, exe);
      expect(again.out).toContain('0.1.0 is already installed');
      expect(await snapshot(root)).toEqual(before);
    });

    it("never replaces an operator's config, and installs --config only where there is none", async () => {
      const root = await newRoot(`config-${tag}`);
      const mine = path.join(work, `mine-${tag}.yaml`);
      await writeFile(mine, 'node:\n  name: from-the-operator\n');
      ok('--root', root, '--config', mine, exe);
      const installed = path.join(root, 'etc/fieldmesh/config.yaml');
      expect(await readFile(installed, 'utf8')).toBe('node:\n  name: from-the-operator\n');
      await writeFile(installed, '# edited on the device\n');
      ok('--root', root, '--config', mine, '--version', '0.1.1', exe);
      expect(await readFile(installed, 'utf8')).toBe('# edited on the device\n');
    });

    it('upgrades keeping exactly one previous release, rolls back, and refuses a swapped artifact', async () => {
      const root = await newRoot(`upgrade-${tag}`);
      ok('--root', root, exe);
      expect(ok('--root', root, tarball).out).toContain('installed 0.2.0 (previous: 0.1.0)');
      expect(await mode(path.join(root, 'opt/fieldmesh/releases/0.2.0/bin/fieldmesh'))).toBe(0o755);
      ok('--root', root, '--version', '0.3.0', exe);
      expect([await current(root), await previous(root)]).toEqual(['releases/0.3.0', 'releases/0.2.0']);
      expect(await releases(root)).toEqual(['0.2.0', '0.3.0']);
      expect(ok('--root', root, '--rollback').out).toContain('rolled back from 0.3.0 to 0.2.0');
      expect([await current(root), await previous(root)]).toEqual(['releases/0.2.0', 'releases/0.3.0']);
      const swapped = run('--root', root, '--version', '0.3.0', tarball);
      expect(swapped.code).toBe(1);
      expect(swapped.err).toContain('0.3.0 is installed from a different artifact');
      expect(swapped.err).toContain('--force');
      expect(await current(root)).toBe('releases/0.2.0');
    });

    it('uninstalls keeping config and data; --purge removes them and the user', async () => {
      const root = await newRoot(`remove-${tag}`);
      ok('--root', root, exe);
      expect(ok('--root', root, '--uninstall').out).toContain('kept');
      for (const gone of ['opt/fieldmesh', 'usr/local/bin/fieldmesh', 'etc/systemd/system/fieldmesh.service'])
        await expect(lstat(path.join(root, gone))).rejects.toThrow(/ENOENT/);
      await stat(path.join(root, 'etc/fieldmesh/config.yaml'));
      await stat(path.join(root, 'var/lib/fieldmesh/node-key.json'));
      ok('--root', root, '--uninstall', '--purge');
      for (const gone of ['etc/fieldmesh', 'var/lib/fieldmesh'])
        await expect(lstat(path.join(root, gone))).rejects.toThrow(/ENOENT/);
      expect(await readFile(path.join(root, 'etc/passwd'), 'utf8')).not.toContain('fieldmesh');
      expect(await readFile(path.join(root, 'etc/group'), 'utf8')).not.toContain('fieldmesh');
      expect(await readFile(path.join(root, 'etc/shadow'), 'utf8')).not.toContain('fieldmesh');
    });

    it('installs the procd init script on OpenWrt, with the key on flash and kept by sysupgrade', async () => {
      const root = await newRoot(`openwrt-${tag}`);
      await writeFile(path.join(root, 'etc/openwrt_release'), "DISTRIB_ID='OpenWrt'\n");
      const example = path.join(REPO, 'deploy/examples/home-router.yaml');
      ok('--root', root, '--config', example, tarball);
      const script = path.join(root, 'etc/init.d/fieldmesh');
      expect(await readFile(script, 'utf8')).toBe(await readFile(INIT, 'utf8'));
      expect(await mode(script)).toBe(0o755);
      await expect(lstat(path.join(root, 'etc/systemd'))).rejects.toThrow(/ENOENT/);
      // OpenWrt's /var is RAM: the node key lives under /etc/fieldmesh/data instead.
      const key = await stat(path.join(root, 'etc/fieldmesh/data/node-key.json'));
      expect([key.uid, key.mode & 0o777]).toEqual([202, 0o600]);
      await expect(lstat(path.join(root, 'var/lib/fieldmesh'))).rejects.toThrow(/ENOENT/);
      const keep = await readFile(path.join(root, 'lib/upgrade/keep.d/fieldmesh'), 'utf8');
      expect(keep.split('\n')).toEqual(expect.arrayContaining(['/etc/fieldmesh/', '/opt/fieldmesh/']));
      // The example installed as is, and valid for the real loader: embedded broker, wasm model.
      const config = await loadConfigFile(path.join(root, 'etc/fieldmesh/config.yaml'), { env: {} });
      expect(config.broker).toMatchObject({ enabled: true, storage: 'memory' });
      expect(config.models[0]).toMatchObject({ id: 'temperature-ae', backend: 'wasm', threads: 1 });
      expect(config.pipelines.map((p) => p.model)).toEqual(['temperature-ae']);
    });

    it('explains what is wrong and what to do, without a trace', async () => {
      const root = await newRoot(`errors-${tag}`);
      const missing = run('--root', root, path.join(work, 'nope'));
      expect(missing.code).toBe(1);
      expect(missing.err).toContain('nope: no such file');
      expect(missing.err).toContain('what to do:');
      const noPrevious = run('--root', root, '--rollback');
      expect(noPrevious.code).toBe(1);
      expect(noPrevious.err).toContain('no previous release');
      const unnamed = path.join(work, `artifact-${tag}`);
      await writeFile(unnamed, 'not a program\n');
      const unknown = run('--root', root, unnamed);
      expect(unknown.err).toContain('install.sh --version 1.2.3');
      expect(run('--frobnicate').err).toContain('unknown option --frobnicate');
      expect(run('--help').out).toContain('--rollback');
    });
  });
}

it('keeps its shell files free of syntax errors (sh -n)', () => {
  for (const f of [INSTALL, INIT]) expect(spawnSync('sh', ['-n', f], { encoding: 'utf8' }).stderr).toBe('');
});

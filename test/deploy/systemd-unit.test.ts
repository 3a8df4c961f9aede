import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const UNIT = path.join(REPO, 'deploy/systemd/fieldmesh.service');
const INIT = path.join(REPO, 'deploy/openwrt/fieldmesh.init');
const ANALYZE = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).stdout.trim();
const NO_ANALYZE = 'systemd-analyze is not installed (Debian package: systemd)';
// systemd-analyze security scores 0 (locked down) to 10 (unprotected); 252 rates this unit 1.8.
const MAX_EXPOSURE = 2.5;

let text: string;
let copy: string;
beforeAll(async () => {
  text = await readFile(UNIT, 'utf8');
  // verify checks that ExecStart's program exists: a stand-in that does, same arguments.
  const dir = await mkdtemp(path.join(tmpdir(), 'fm-unit-'));
  copy = path.join(dir, 'fieldmesh.service');
  await writeFile(copy, text.replace('ExecStart=/usr/local/bin/fieldmesh ', 'ExecStart=/bin/true '));
});

/** Every value of a key in the unit, without comments. */
function values(key: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

const analyze = (...args: string[]) => spawnSync(ANALYZE, args, { encoding: 'utf8' });

if (!ANALYZE) console.warn(`skipping systemd-analyze checks: ${NO_ANALYZE}`);

describe.skipIf(!ANALYZE)('fieldmesh.service under systemd-analyze', () => {
  it('verifies without a single warning', () => {
    const r = analyze('verify', copy);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it(`has an exposure score of at most ${MAX_EXPOSURE} (systemd-analyze security --offline)`, () => {
    const r = analyze('security', '--offline=yes', '--no-pager', copy);
    const score = /Overall exposure level for fieldmesh\.service: ([\d.]+)/.exec(r.stdout)?.[1];
    expect(score, r.stdout + r.stderr).toBeDefined();
    expect(Number(score)).toBeLessThanOrEqual(MAX_EXPOSURE);
  });
});

describe('fieldmesh.service settings', () => {
  it('is a notify service with a watchdog that every process of the unit may notify', () => {
    expect(values('Type')).toEqual(['notify']);
    expect(values('NotifyAccess')).toEqual(['all']);
    expect(values('WatchdogSec')).toEqual(['30s']);
    expect(values('Restart')).toEqual(['always']);
  });

  it('runs unprivileged, writable only in its data dir, with no capabilities and the JIT allowed', () => {
    expect(values('User')).toEqual(['fieldmesh']);
    expect(values('ProtectSystem')).toEqual(['strict']);
    expect(values('ReadWritePaths')).toEqual(['/var/lib/fieldmesh']);
    expect(values('CapabilityBoundingSet')).toEqual(['']);
    expect(values('MemoryDenyWriteExecute')).toEqual(['no']);
    expect(values('RestrictAddressFamilies')).toEqual(['AF_INET AF_INET6 AF_UNIX AF_NETLINK']);
    expect(values('Environment')).toContain('FIELDMESH_RUNTIME_DIR=/var/lib/fieldmesh/runtime');
  });

  it('starts the agent with flags the real CLI accepts (a missing config is exit 3, not usage 2)', () => {
    const [exec, ...args] = (values('ExecStart')[0] ?? '').split(' ');
    expect(exec).toBe('/usr/local/bin/fieldmesh');
    expect(args).toEqual(['agent', '--config', '/etc/fieldmesh/config.yaml']);
    const missing = path.join(tmpdir(), 'fm-no-such-dir', 'config.yaml');
    const r = spawnSync(
      process.execPath,
      [path.join(REPO, 'bin/fieldmesh.js'), 'agent', '--config', missing],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status, r.stderr).toBe(3);
  });

  it('gives the procd init script the same command, environment and user', async () => {
    const init = await readFile(INIT, 'utf8');
    expect(init).toMatch(/^#!\/bin\/sh \/etc\/rc\.common\n/);
    expect(init).toContain('procd_set_param command "$PROG" agent --config "$CONFIG"');
    expect(init).toContain('PROG=/usr/local/bin/fieldmesh');
    expect(init).toContain('CONFIG=/etc/fieldmesh/config.yaml');
    expect(init).toContain('FIELDMESH_RUNTIME_DIR="$DATA_DIR/runtime"');
    expect(init).toMatch(/procd_set_param respawn \d+ \d+ \d+/);
    expect(init).toContain('procd_set_param user fieldmesh');
  });
});

import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';

/**
 * A small LAN of network namespaces for multi-host tests and benchmarks (DESIGN.md "Measured facts"):
 *
 *   hub namespace: bridge br0 ── veth ── host namespace i (eth0 = 10.a.b.(i+1)/24)
 *                             └─ veth ── root namespace (10.a.b.254/24), so this process can
 *                                        reach the hosts over TCP
 *
 * Each host has lo up, multicast on eth0 and `224.0.0.0/4 dev eth0`, so mDNS stays inside the
 * LAN. The /24 is one no root-namespace address uses, and every name carries this process id,
 * so test files running at the same time never meet. Nothing is ever sent outside it.
 */

export interface NetnsHost {
  /** The namespace name, for `ip netns exec`. */
  readonly ns: string;
  /** Its address on the LAN (eth0). */
  readonly address: string;
}

export interface NetnsLan {
  readonly hosts: readonly NetnsHost[];
  /** The root namespace's address on the LAN. */
  readonly rootAddress: string;
  /** Spawns `argv` inside `host`; the process is killed at teardown if still running. */
  run(host: NetnsHost, argv: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Kills every process run() started and removes every namespace and link; idempotent. */
  teardown(): void;
}

let probed: string | null | undefined;

/** Why network namespaces cannot be made here (for describe.skipIf), or null when they can. */
export function netnsUnavailable(): string | null {
  probed ??= probe();
  return probed;
}

function probe(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the tests as root)';
  const name = `fmprobe${process.pid}`;
  try {
    ip(['netns', 'add', name]);
    ip(['-n', name, 'link', 'add', 'br0', 'type', 'bridge']);
    return null;
  } catch (err) {
    return `cannot create a network namespace with a bridge: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    try {
      ip(['netns', 'del', name]);
    } catch {
      // It was never made.
    }
  }
}

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A 10.a.b.0/24 that no address in the root namespace falls in. */
function freeSubnet(): string {
  const used = new Set(
    [...ip(['-4', '-o', 'addr']).matchAll(/inet (\d+)\.(\d+)\.(\d+)\.\d+\//g)].map(
      (m) => `${m[1]}.${m[2]}.${m[3]}`,
    ),
  );
  for (let attempt = 0; attempt < 100; attempt++) {
    const subnet = `10.${randomInt(100, 200)}.${randomInt(1, 255)}`;
    if (!used.has(subnet)) return subnet;
  }
  throw new Error('no free 10.x.y.0/24 in the root namespace');
}

let lanCount = 0;
const live = new Set<NetnsLan>();
let exitHookInstalled = false;

/** Builds a LAN of `hostCount` hosts; call teardown() in afterAll (also runs on process exit). */
export function createLan(hostCount: number): NetnsLan {
  const tag = `${process.pid.toString(36)}${(lanCount++).toString(36)}`;
  const hub = `fm${tag}hub`;
  const namespaces: string[] = [];
  const children = new Set<ChildProcess>();
  const rootLink = `fr${tag}`;
  let torn = false;

  const lan: NetnsLan = {
    hosts: [],
    rootAddress: '',
    run(host, argv, opts = {}) {
      const [cmd, ...rest] = argv;
      if (cmd === undefined) throw new Error('run() needs a command');
      const child = spawn('ip', ['netns', 'exec', host.ns, cmd, ...rest], {
        stdio: ['ignore', 'pipe', 'pipe'],
        ...opts,
      });
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
    teardown() {
      if (torn) return;
      torn = true;
      live.delete(lan);
      for (const child of children) child.kill('SIGKILL');
      for (const ns of namespaces.reverse()) {
        try {
          ip(['netns', 'del', ns]);
        } catch {
          // Already gone.
        }
      }
      try {
        ip(['link', 'del', rootLink]);
      } catch {
        // Removed with its peer in the hub namespace.
      }
    },
  };
  live.add(lan);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const l of [...live]) l.teardown();
    });
  }
  try {
    const subnet = freeSubnet();
    ip(['netns', 'add', hub]);
    namespaces.push(hub);
    ip(['-n', hub, 'link', 'set', 'lo', 'up']);
    ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', hub, 'link', 'set', 'br0', 'up']);
    const hosts: NetnsHost[] = [];
    for (let i = 0; i < hostCount; i++) {
      const ns = `fm${tag}h${i}`;
      ip(['netns', 'add', ns]);
      namespaces.push(ns);
      hosts.push(addHost(ns, hub, `fh${tag}${i}`, `fb${tag}${i}`, `${subnet}.${i + 1}`));
    }
    const rootAddress = `${subnet}.254`;
    ip(['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', `fq${tag}`]);
    ip(['link', 'set', `fq${tag}`, 'netns', hub]);
    ip(['-n', hub, 'link', 'set', `fq${tag}`, 'master', 'br0']);
    ip(['-n', hub, 'link', 'set', `fq${tag}`, 'up']);
    ip(['addr', 'add', `${rootAddress}/24`, 'dev', rootLink]);
    ip(['link', 'set', rootLink, 'up']);
    Object.assign(lan, { hosts, rootAddress });
    return lan;
  } catch (err) {
    lan.teardown();
    throw err;
  }
}

function addHost(ns: string, hub: string, hostSide: string, hubSide: string, address: string): NetnsHost {
  ip(['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', hubSide]);
  ip(['link', 'set', hostSide, 'netns', ns]);
  ip(['link', 'set', hubSide, 'netns', hub]);
  ip(['-n', hub, 'link', 'set', hubSide, 'master', 'br0']);
  ip(['-n', hub, 'link', 'set', hubSide, 'up']);
  ip(['-n', ns, 'link', 'set', hostSide, 'name', 'eth0']);
  ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  ip(['-n', ns, 'link', 'set', 'eth0', 'multicast', 'on']);
  ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  ip(['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
  return { ns, address };
}

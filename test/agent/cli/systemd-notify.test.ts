import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type NotifySend, systemdNotify, watchdogIntervalMs } from '../../../agent/cli/systemd-notify.js';
import { closedPort } from '../../helpers/broker.js';
import { withTimeout } from '../../helpers/wait-for.js';

const BIN = path.resolve('bin/fieldmesh.js');
const HELPER = spawnSync('sh', ['-c', 'command -v systemd-notify'], { encoding: 'utf8' }).stdout.trim();
const PYTHON = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim();
const missing = !HELPER
  ? 'systemd-notify is not installed (Debian package: systemd)'
  : !PYTHON
    ? 'python3 is not installed (Debian package: python3), the test socket needs it'
    : undefined;
// A unix datagram socket standing in for systemd's notify socket: one line per datagram (JSON
// string). recv() without room for ancillary data closes the fd that BARRIER=1 carries, which
// is what releases a waiting systemd-notify, as systemd itself does.
const LISTENER = `import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); print('"LISTENING"', flush=True)
while True: print(json.dumps(s.recv(65536).decode()), flush=True)`;

/** What the agent logged and what arrived on the socket, in arrival order. */
class Timeline {
  readonly events: { from: 'agent' | 'systemd'; text: string }[] = [];
  private waiters: (() => void)[] = [];

  feed(from: 'agent' | 'systemd', child: ChildProcess, parse: (line: string) => string): void {
    let partial = '';
    child.stdout?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.filter((l) => l.trim())) this.events.push({ from, text: parse(line) });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  async waitFor(what: string, count = 1, timeoutMs = 15_000): Promise<number> {
    const find = async () => {
      for (;;) {
        const at = this.events.map((e, i) => (e.text.includes(what) ? i : -1)).filter((i) => i >= 0);
        if (at.length >= count) return at[count - 1]!;
        await new Promise<void>((r) => this.waiters.push(r));
      }
    };
    return withTimeout(find(), `${count} × "${what}"`, timeoutMs);
  }

  count(what: string): number {
    return this.events.filter((e) => e.text.includes(what)).length;
  }
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-notify-'));
});

async function startSite(name: string, env: NodeJS.ProcessEnv) {
  const timeline = new Timeline();
  const socket = path.join(work, `${name}.sock`);
  const listener = spawn(PYTHON, ['-c', LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(listener);
  timeline.feed('systemd', listener, (l) => JSON.parse(l) as string);
  await timeline.waitFor('LISTENING');
  const config = path.join(work, `${name}.yaml`);
  const broker = { enabled: true, host: '127.0.0.1', port: await closedPort(), storage: 'memory' };
  const dataDir = path.join(work, name);
  await writeFile(
    config,
    JSON.stringify({ node: { name, dataDir }, log: { level: 'info' }, broker, api: { port: 0 } }),
  );
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDMESH_')));
  const agent = spawn(process.execPath, [BIN, 'agent', '--config', config], {
    env: { ...clean, NOTIFY_SOCKET: socket, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(agent);
  timeline.feed('agent', agent, (l) => l);
  const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
  return { timeline, agent, exited };
}

describe.skipIf(missing !== undefined)('the agent under a systemd notify socket', () => {
  it('sends READY=1 after it is ready, WATCHDOG=1 every WATCHDOG_USEC/2, STOPPING=1 on SIGTERM', async () => {
    const { timeline, agent, exited } = await startSite('watched', { WATCHDOG_USEC: '1000000' });
    const ready = await timeline.waitFor('READY=1');
    const logged = await timeline.waitFor('"msg":"agent ready"');
    expect(logged).toBeLessThan(ready);
    expect(timeline.events[ready]?.text).toContain(`MAINPID=${agent.pid}`);
    expect(timeline.events[ready]?.text).toMatch(/STATUS=running 0 pipeline/);
    // systemd-notify waits for the manager to take each message (BARRIER=1): no attribution race.
    await timeline.waitFor('BARRIER=1');
    const third = await timeline.waitFor('WATCHDOG=1', 3, 5_000);
    expect(third).toBeGreaterThan(ready);
    agent.kill('SIGTERM');
    await timeline.waitFor('STOPPING=1');
    expect(await withTimeout(exited, 'the agent to exit', 15_000)).toBe(0);
    expect(timeline.count('READY=1')).toBe(1);
  });

  it('does not ping when WATCHDOG_PID names another process', async () => {
    const { timeline, agent, exited } = await startSite('other-pid', {
      WATCHDOG_USEC: '200000',
      WATCHDOG_PID: '1',
    });
    await timeline.waitFor('READY=1');
    // Ten intervals of 100 ms pass while the agent stops; none may bring a ping.
    await new Promise((r) => setTimeout(r, 1_000));
    agent.kill('SIGTERM');
    await timeline.waitFor('STOPPING=1');
    expect(await withTimeout(exited, 'the agent to exit', 15_000)).toBe(0);
    expect(timeline.count('WATCHDOG=1')).toBe(0);
  });

  it('logs once and carries on when systemd-notify cannot be run', async () => {
    const { timeline, agent, exited } = await startSite('no-helper', {
      WATCHDOG_USEC: '200000',
      PATH: path.join(work, 'empty-path'),
    });
    await timeline.waitFor('"msg":"agent ready"');
    await timeline.waitFor('cannot notify systemd');
    agent.kill('SIGTERM');
    expect(await withTimeout(exited, 'the agent to exit', 15_000)).toBe(0);
    expect(timeline.count('cannot notify systemd')).toBe(1);
    expect(timeline.events.filter((e) => e.from === 'systemd').map((e) => e.text)).toEqual(['LISTENING']);
  });
});

if (missing) console.warn(`skipping the agent's systemd notification tests: ${missing}`);

describe('systemdNotify', () => {
  const logger = pino({ level: 'silent' });
  const recorder = () => {
    const sent: string[][] = [];
    const send: NotifySend = async (a) => {
      sent.push([...a]);
    };
    return { sent, send };
  };

  it('does nothing without NOTIFY_SOCKET', async () => {
    const { sent, send } = recorder();
    const n = systemdNotify({ env: { WATCHDOG_USEC: '1000' }, logger, send });
    n.ready('up');
    await n.stopping('down');
    expect(sent).toEqual([]);
  });

  it('sends READY=1 once, with MAINPID and STATUS', async () => {
    const { sent, send } = recorder();
    const n = systemdNotify({ env: { NOTIFY_SOCKET: '/x' }, pid: 42, logger, send });
    n.ready('up');
    n.ready('up again');
    await n.stopping('down');
    expect(sent).toEqual([
      ['READY=1', 'MAINPID=42', 'STATUS=up'],
      ['STOPPING=1', 'STATUS=down'],
    ]);
  });

  it('pings at half of WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 7)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 7)).toBe(15_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7)).toBeUndefined();
    expect(watchdogIntervalMs({}, 7)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 7)).toBeUndefined();
  });
});

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnReady } from '../lib/child.js';
import { startMosquitto } from '../lib/mosquitto-server.js';

export type Subject = 'embedded' | 'aedes' | 'mosquitto';
export const SUBJECTS: readonly Subject[] = ['embedded', 'aedes', 'mosquitto'];

export interface RunningBroker {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * `BENCH_BROKER_CPU_PROF=<dir>` starts the Node brokers under `--cpu-prof`, one profile per
 * broker process in <dir>, to see where a broker's time goes (open them in Chrome DevTools).
 */
function nodeArgs(script: string, args: string[]): string[] {
  const dir = process.env.BENCH_BROKER_CPU_PROF;
  const prof = dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
  return [...prof, path.join(HERE, script), ...args];
}

/** A fresh broker of the given kind on 127.0.0.1 and a free port, in its own process. */
export async function startSubject(
  subject: Subject,
  fixture: { credentials: string; acl: string },
): Promise<RunningBroker> {
  // Debian 12's Mosquitto 2.0.11 can leave QoS 1 messages queued behind its inflight quota
  // (default 20 per client) and never send them (fixed in 2.0.13, mosquitto#2306): acknowledged
  // to the publisher, never delivered. No quota, as aedes has none; the load's end-to-end window
  // (publishers × window, 128) bounds what is in flight anyway.
  if (subject === 'mosquitto') return startMosquitto({ config: ['max_inflight_messages 0'] });
  const args =
    subject === 'embedded'
      ? nodeArgs('embedded-server.js', [fixture.credentials, fixture.acl])
      : nodeArgs('aedes-server.js', []);
  const child = await spawnReady(process.execPath, args, { ready: /^ready \d+$/, timeoutMs: 15_000 });
  const port = Number(child.readyLine.split(' ')[1]);
  return { url: `mqtt://127.0.0.1:${port}`, pid: child.proc.pid as number, stop: child.stop };
}

/** Runs a Node script to its end and returns its last stdout line; rejects with its stderr on failure. */
export function runToEnd(script: string, args: string[], timeoutMs: number): Promise<string> {
  const proc = spawn(process.execPath, [path.join(HERE, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-8000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last !== '') resolve(last);
      else reject(new Error(`${script} ended with ${signal ?? code}\n${err}`));
    });
  });
}

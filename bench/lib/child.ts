import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface ReadyChild {
  proc: ChildProcess;
  /** The line that matched the ready pattern. */
  readyLine: string;
  stop(): Promise<void>;
  rssMb(): number;
}

/** Spawns a process and resolves once a stdout line matches `ready`; rejects on exit or timeout. */
export function spawnReady(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; ready: RegExp; timeoutMs: number },
): Promise<ReadyChild> {
  const proc = spawn(command, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr?.on('data', (d: Buffer) => {
    stderr.push(d.toString());
    if (stderr.length > 50) stderr.shift();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${args.join(' ')}: not ready after ${opts.timeoutMs} ms\n${stderr.join('')}`));
    }, opts.timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code} before it was ready\n${stderr.join('')}`));
    });
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      if (!opts.ready.test(line)) return;
      clearTimeout(timer);
      proc.removeAllListeners('exit');
      lines.removeAllListeners('line');
      proc.stdout?.resume();
      resolve({ proc, readyLine: line, stop: () => stopChild(proc), rssMb: () => rssMb(proc.pid) });
    });
  });
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
export function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Resident set size of a live process, from /proc (Linux). */
export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

/**
 * `fieldmesh broker` as the benchmarks run it: any free port, sessions in memory, open to the
 * load generators (anonymous) and to any agent's node key; its node key in a scratch directory.
 */
export function benchBrokerArgs(cli: string): string[] {
  return [
    cli,
    'broker',
    '--port',
    '0',
    '--log-level',
    'info',
    '--storage',
    'memory',
    '--allow-anonymous',
    '--trust',
    'any',
    '--data-dir',
    path.join(tmpdir(), 'fieldmesh-bench-broker'),
  ];
}

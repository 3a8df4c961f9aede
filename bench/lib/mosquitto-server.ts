import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stopChild } from './child.js';

/**
 * A throwaway Mosquitto broker on loopback for benchmarks: Debian's `mosquitto` package
 * (installed by .ci/run), a generated config in a temporary directory, a free port, anonymous
 * access, no persistence, Nagle off like the embedded broker's sockets.
 */
export interface MosquittoServer {
  readonly url: string;
  readonly port: number;
  /** The broker's process id, for reading its CPU time from /proc. */
  readonly pid: number;
  /** Stops the broker (SIGTERM, SIGKILL after 5 s) and deletes its directory. */
  stop(): Promise<void>;
}

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';

/** Mosquitto refused to start, or did not accept connections in time. */
export class MosquittoStartError extends Error {
  override readonly name = 'MosquittoStartError';
  readonly code = 'MOSQUITTO_START_FAILED';
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export interface MosquittoOptions {
  /** The broker binary (default Debian's). */
  bin?: string;
  /** More lines for the generated mosquitto.conf. */
  config?: readonly string[];
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoServer> {
  const bin = options.bin ?? MOSQUITTO_BIN;
  if (!existsSync(bin)) {
    throw new MosquittoStartError(
      `Mosquitto is not installed (${bin} is missing): run "apt-get install -y mosquitto" (what .ci/run does)`,
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'fieldmesh-mosquitto-'));
  const port = await freePort();
  const log = path.join(dir, 'mosquitto.log');
  const config = path.join(dir, 'mosquitto.conf');
  await writeFile(
    config,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'set_tcp_nodelay true',
      `log_dest file ${log}`,
      'log_type error',
      'log_type warning',
      'log_type notice',
      // As root Mosquitto 2 switches to the `mosquitto` user, which cannot write the log in our
      // temporary directory; `user root` keeps it as it is (the bench's own user otherwise).
      ...(asRoot ? ['user root'] : []),
      ...(options.config ?? []),
      '',
    ].join('\n'),
  );
  const proc = spawn(bin, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const why = async () => `${stderr}${await readFile(log, 'utf8').catch(() => '')}`.trim();
  try {
    await waitListening(proc, port);
  } catch (err) {
    proc.kill('SIGKILL');
    const detail = await why();
    await rm(dir, { recursive: true, force: true });
    throw new MosquittoStartError(`${(err as Error).message}${detail ? `:\n${detail}` : ''}`, { cause: err });
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    pid: proc.pid as number,
    stop: async () => {
      await stopChild(proc);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitListening(proc: ChildProcess, port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited with ${proc.exitCode} at start`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline)
      throw new Error(`mosquitto did not accept connections on port ${port} in 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A loopback TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

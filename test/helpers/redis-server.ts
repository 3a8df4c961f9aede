import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway redis-server on 127.0.0.1 and a free port, from Debian's `redis-server` package
 * (installed by .ci/run): no snapshots, no append-only file, its working files in a temporary
 * directory. One is started for the whole run (`inject('redisUrl')`); a test that needs to
 * take Redis away starts its own.
 */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL: what a crash or a pulled cable looks like); `start` brings it back, empty. */
  halt(): Promise<void>;
  /** Starts the server again on the same port; a no-op while it runs. */
  start(): Promise<void>;
  /** Freezes (SIGSTOP) or thaws (SIGCONT) the server: connections stay open, nothing is answered. */
  freeze(frozen: boolean): void;
  /** Kills the server and deletes its directory. */
  stop(): Promise<void>;
}

const REDIS_SERVER = '/usr/bin/redis-server';
const READY_TIMEOUT_MS = 10_000;

export async function startRedisServer(): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: run "apt-get install -y redis-server" (what .ci/run does)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'fieldmesh-redis-'));
  const port = await freePort();
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'];
  args.push('--dir', dir, '--daemonize', 'no', '--loglevel', 'notice');
  let child: ChildProcess | undefined;
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const start = async (): Promise<void> => {
    if (running()) return;
    const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: dir });
    child = proc;
    await waitReady(proc, port);
  };
  const halt = async (): Promise<void> => {
    const proc = child;
    if (proc === undefined || !running()) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    halt,
    start,
    freeze: (frozen) => {
      if (running()) child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits for redis-server to say it is ready; rejects with its output if it exits or stalls first. */
function waitReady(proc: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const finish = (err?: Error) => {
      clearTimeout(timer);
      proc.stdout?.off('data', onData);
      proc.off('exit', onExit);
      proc.stdout?.resume(); // keep draining, or a chatty server would block on a full pipe
      if (err === undefined) resolve();
      else reject(err);
    };
    const onData = (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
      if (output.includes('Ready to accept connections')) finish();
    };
    const onExit = (code: number | null) =>
      finish(new Error(`redis-server exited at start (code ${code}):\n${output}`));
    const timer = setTimeout(
      () =>
        finish(
          new Error(`redis-server on 127.0.0.1:${port} not ready in ${READY_TIMEOUT_MS} ms:\n${output}`),
        ),
      READY_TIMEOUT_MS,
    );
    proc.stdout?.on('data', onData);
    proc.once('exit', onExit);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

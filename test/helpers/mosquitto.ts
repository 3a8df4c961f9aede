import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access, chmod, chown, copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { closedPort, startTestBroker } from './broker.js';
import type { TestCa } from './tls-ca.js';

const run = promisify(execFile);

const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

export interface MosquittoInit {
  /** Clients without a user name get in. Default true; false needs `users`. */
  allowAnonymous?: boolean;
  /** User name → password, written with mosquitto_passwd. */
  users?: Record<string, string>;
  /** Adds a TLS listener (on tlsUrl) with this CA's server certificate. */
  tls?: TestCa;
}

/** A throwaway Mosquitto (Debian's package) on loopback, for one test file or describe block. */
export interface MosquittoServer {
  /** mqtt://127.0.0.1:<port> */
  readonly url: string;
  /** mqtts://localhost:<port>, when started with `tls` (the certificate names localhost). */
  readonly tlsUrl: string | undefined;
  readonly port: number;
  /** What mosquitto logged so far (to stderr, which it does not buffer), for failure messages. */
  log(): string;
  /** Stops it and starts it again on the same ports; sessions are lost (persistence is off). */
  restart(): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 2 s) and deletes its directory. */
  stop(): Promise<void>;
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Starts `/usr/sbin/mosquitto` with a generated mosquitto.conf in a temporary directory and
 * resolves once it is running. As root it runs as the `mosquitto` user (Debian's
 * package creates it), which then owns the directory: mosquitto would otherwise drop to that
 * user by itself after reading only part of its files.
 */
export async function startMosquitto(init: MosquittoInit = {}): Promise<MosquittoServer> {
  await assertInstalled();
  const dir = await mkdtemp(path.join(tmpdir(), 'fieldmesh-mosquitto-'));
  const port = await closedPort();
  const tlsPort = init.tls === undefined ? undefined : await closedPort();
  await writeFile(path.join(dir, 'mosquitto.conf'), await configure(dir, init, port, tlsPort));
  const owner = asRoot ? await mosquittoUser() : undefined;
  if (owner !== undefined) await chownTree(dir, owner);
  let output = '';
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const proc = spawn(MOSQUITTO, ['-c', path.join(dir, 'mosquitto.conf')], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(owner ?? {}),
    });
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    child = proc;
    await waitRunning(proc, () => output);
  };
  const halt = async (): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const kill = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(kill);
  };
  await start().catch(async (err: unknown) => {
    await halt();
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    tlsUrl: tlsPort === undefined ? undefined : `mqtts://localhost:${tlsPort}`,
    port,
    log: () => output,
    restart: async () => {
      await halt();
      await start();
    },
    stop: async () => {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function assertInstalled(): Promise<void> {
  try {
    await access(MOSQUITTO);
    await access(MOSQUITTO_PASSWD);
  } catch {
    throw new Error(
      `Mosquitto is not installed (${MOSQUITTO} or ${MOSQUITTO_PASSWD} missing): ` +
        'run "apt-get install -y mosquitto" (Debian\'s package; .ci/run does this on CI)',
    );
  }
}

/** mosquitto.conf: every listener on loopback, its own auth settings, no persistence. */
async function configure(
  dir: string,
  init: MosquittoInit,
  port: number,
  tlsPort: number | undefined,
): Promise<string> {
  const users = Object.entries(init.users ?? {});
  const passwordFile = path.join(dir, 'passwd');
  for (const [i, [user, password]] of users.entries()) {
    const create = i === 0 ? ['-c'] : [];
    await run(MOSQUITTO_PASSWD, ['-b', ...create, passwordFile, user, password]);
  }
  const auth = [
    `allow_anonymous ${init.allowAnonymous ?? true}`,
    ...(users.length > 0 ? [`password_file ${passwordFile}`] : []),
  ];
  const lines = [
    'per_listener_settings true',
    'persistence false',
    'set_tcp_nodelay true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    `listener ${port} 127.0.0.1`,
    ...auth,
  ];
  const ca = init.tls;
  if (ca !== undefined && tlsPort !== undefined) {
    // Copies, so that the mosquitto user can own them without touching the test's CA directory.
    for (const [from, to] of [
      [ca.caFile, 'ca.crt'],
      [ca.certFile, 'server.crt'],
      [ca.keyFile, 'server.key'],
    ] as const) {
      await copyFile(from, path.join(dir, to));
    }
    lines.push(
      `listener ${tlsPort} 127.0.0.1`,
      ...auth,
      `cafile ${path.join(dir, 'ca.crt')}`,
      `certfile ${path.join(dir, 'server.crt')}`,
      `keyfile ${path.join(dir, 'server.key')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function mosquittoUser(): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string) => Number((await run('id', [flag, 'mosquitto'])).stdout.trim());
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    throw new Error(
      'the mosquitto user does not exist: reinstall Debian\'s mosquitto package ("apt-get install --reinstall mosquitto")',
    );
  }
}

async function chownTree(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await chmod(dir, 0o700);
  await chown(dir, owner.uid, owner.gid);
  for (const name of await readdir(dir)) await chown(path.join(dir, name), owner.uid, owner.gid);
}

/**
 * Resolves once mosquitto logs that it is running, which it does after opening every listener;
 * rejects with its log when it exits first or takes over 10 s.
 */
function waitRunning(proc: ChildProcess, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (/mosquitto version \S+ running/.test(seen)) finish();
    };
    const onExit = (code: number | null) =>
      finish(new Error(`mosquitto exited at start (code ${code}):\n${log()}`));
    const timer = setTimeout(
      () => finish(new Error(`mosquitto did not report "running" within 10 s:\n${log()}`)),
      10_000,
    );
    function finish(err?: Error): void {
      clearTimeout(timer);
      proc.stderr?.off('data', onData);
      proc.off('exit', onExit);
      if (err === undefined) resolve();
      else reject(err);
    }
    proc.stderr?.on('data', onData);
    proc.once('exit', onExit);
  });
}

/** A site broker an integration test runs the agent against: the embedded one, or Mosquitto. */
export interface SiteBroker {
  readonly kind: SiteBrokerKind;
  readonly url: string;
  /** What the agent (mqtt.username/password) and test clients log in with; empty for the embedded broker. */
  readonly credentials: { username?: string; password?: string };
  /** The MQTT version an 'auto' link ends up speaking with it. */
  readonly protocolVersion: 4 | 5;
  /** Stops it and starts a fresh one on the same port: sessions and retained messages are gone. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Mosquitto's log so far ('' for the embedded broker). */
  log(): string;
}

export type SiteBrokerKind = 'embedded' | 'mosquitto';

/** For describe.each: every broker the main pipeline tests run against, with a readable name. */
export const SITE_BROKERS: readonly { kind: SiteBrokerKind; name: string }[] = [
  { kind: 'embedded', name: 'the embedded broker (aedes, MQTT 3.1.1)' },
  { kind: 'mosquitto', name: 'Mosquitto (MQTT 5, user name and password)' },
];

export async function startSiteBroker(kind: SiteBrokerKind): Promise<SiteBroker> {
  if (kind === 'mosquitto') {
    const credentials = { username: 'fieldmesh', password: 'site secret' };
    const server = await startMosquitto({
      allowAnonymous: false,
      users: { [credentials.username]: credentials.password },
    });
    return {
      kind,
      url: server.url,
      credentials,
      protocolVersion: 5,
      restart: () => server.restart(),
      stop: () => server.stop(),
      log: () => server.log(),
    };
  }
  let broker = await startTestBroker();
  const { port } = broker.address();
  return {
    kind,
    url: broker.url,
    credentials: {},
    protocolVersion: 4,
    restart: async () => {
      await broker.stop();
      broker = await startTestBroker({ port });
    },
    stop: () => broker.stop(),
    log: () => '',
  };
}

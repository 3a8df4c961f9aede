import { execFile } from 'node:child_process';
import type { Logger } from '../log.js';

/**
 * Tells systemd (Type=notify) that the agent is ready, alive and stopping (sd_notify(3)).
 *
 * Node has no unix datagram sockets, so the messages go through systemd's own
 * `systemd-notify` helper, which needs `NotifyAccess=all` in the unit (the helper is not the
 * main process). The helper's old race — it exits before systemd looks up its cgroup, and the
 * message is dropped — is gone since systemd 246: without `--no-block` the helper sends
 * `BARRIER=1` after the message and waits until systemd has processed both, so it is still
 * alive when systemd attributes it (systemd 252 on Debian 12 and Raspberry Pi OS behaves so).
 * We therefore never pass `--no-block`, and we do not rely on `--pid=` (it fakes the sender's
 * credentials only with privileges the service user lacks). READY=1 carries MAINPID= so that
 * systemd tracks this process even when a launcher script started it without `exec`.
 */
export interface SystemdNotifier {
  /** READY=1 once; starts the watchdog pings when systemd asked for them. */
  ready(status: string): void;
  status(text: string): void;
  /** STOPPING=1 and no more watchdog pings; resolves once the helper is done (never rejects). */
  stopping(status: string): Promise<void>;
  /** Stops the watchdog timer; idempotent. */
  close(): void;
}

export type NotifySend = (assignments: readonly string[]) => Promise<void>;

export interface SystemdNotifyInit {
  readonly env?: NodeJS.ProcessEnv;
  readonly pid?: number;
  /** The helper binary; `systemd-notify` on PATH by default. */
  readonly helper?: string;
}

export interface SystemdNotifyComponents {
  readonly logger: Logger;
  /** Replaces the helper, for tests. */
  readonly send?: NotifySend;
}

/** How often to ping: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; undefined when off. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID names the process systemd expects pings from; another process must not ping.
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2_000));
}

function helperSend(helper: string, env: NodeJS.ProcessEnv): NotifySend {
  return (assignments) =>
    new Promise((resolve, reject) => {
      execFile(helper, [...assignments], { env, timeout: 10_000 }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`${helper} ${assignments.join(' ')}: ${stderr.trim() || err.message}`));
        else resolve();
      });
    });
}

const NOOP: SystemdNotifier = { ready() {}, status() {}, stopping: async () => {}, close() {} };

/** A notifier that does nothing unless NOTIFY_SOCKET is set (not started by systemd). */
export function systemdNotify(components: SystemdNotifyComponents & SystemdNotifyInit): SystemdNotifier {
  const env = components.env ?? process.env;
  if (!env.NOTIFY_SOCKET) return NOOP;
  return createNotifier(
    env,
    components.pid ?? process.pid,
    components.helper ?? 'systemd-notify',
    components,
  );
}

function createNotifier(
  env: NodeJS.ProcessEnv,
  pid: number,
  helper: string,
  components: SystemdNotifyComponents,
): SystemdNotifier {
  const log = components.logger.child({ component: 'systemd-notify' });
  const send = components.send ?? helperSend(helper, env);
  let failed = false;
  let closed = false;
  let readySent = false;
  let pinging = false;
  let timer: NodeJS.Timeout | undefined;
  const notify = async (assignments: readonly string[]): Promise<void> => {
    if (failed) return;
    try {
      await send(assignments);
    } catch (err) {
      // Logged once: without the helper systemd's watchdog or start timeout will tell the operator.
      failed = true;
      log.warn(
        { err: (err as Error).message, socket: env.NOTIFY_SOCKET },
        'cannot notify systemd (is systemd-notify installed?); carrying on without it',
      );
    }
  };
  const ping = () => {
    // A ping still waiting for systemd's barrier is enough; never pile helpers up.
    if (pinging || closed) return;
    pinging = true;
    void notify(['WATCHDOG=1']).finally(() => {
      pinging = false;
    });
  };
  const close = () => {
    closed = true;
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  return {
    ready(status) {
      if (closed || readySent) return;
      readySent = true;
      void notify(['READY=1', `MAINPID=${pid}`, `STATUS=${status}`]);
      const every = watchdogIntervalMs(env, pid);
      if (every === undefined) return;
      timer = setInterval(ping, every);
      timer.unref();
    },
    status(text) {
      if (!closed) void notify([`STATUS=${text}`]);
    },
    stopping(status) {
      close();
      return notify(['STOPPING=1', `STATUS=${status}`]);
    },
    close,
  };
}

import type { Logger } from '../log.js';

export interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs parts until Ctrl-C, SIGTERM or `durationMs`, then stops them in reverse order.
 * A second Ctrl-C while stopping exits at once, for the operator who will not wait. The
 * signals are heard from the first moment: one that comes while the parts start (systemd
 * stopping a slow start) lets the current part finish starting, starts no more, and stops.
 */
export async function runUntilStopped(
  parts: Startable[],
  opts: { logger: Logger; durationMs?: number },
): Promise<void> {
  const started: Startable[] = [];
  let stopping = false;
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const finish = (why: string) => {
    if (stopping) return;
    stopping = true;
    opts.logger.info({ why }, 'stopping');
    wake?.();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.once('SIGINT', () => process.exit(130));
    finish(signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const part of parts) {
      if (stopping) break;
      await part.start();
      started.push(part);
    }
    if (!stopping) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (opts.durationMs !== undefined)
          timer = setTimeout(() => finish('duration elapsed'), opts.durationMs);
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (timer) clearTimeout(timer);
    for (const part of started.reverse()) {
      await part.stop().catch((err: Error) => opts.logger.warn({ err: err.message }, 'stop failed'));
    }
  }
}

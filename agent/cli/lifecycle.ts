import type { Logger } from '../log.js';

export interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs parts until Ctrl-C, SIGTERM or `durationMs`, then stops them in reverse order.
 * A second Ctrl-C while stopping exits at once, for the operator who will not wait.
 */
export async function runUntilStopped(
  parts: Startable[],
  opts: { logger: Logger; durationMs?: number },
): Promise<void> {
  const started: Startable[] = [];
  try {
    for (const part of parts) {
      await part.start();
      started.push(part);
    }
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (why: string) => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        if (timer) clearTimeout(timer);
        opts.logger.info({ why }, 'stopping');
        resolve();
      };
      const onSignal = (signal: NodeJS.Signals) => {
        process.once('SIGINT', () => process.exit(130));
        finish(signal);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      if (opts.durationMs !== undefined)
        timer = setTimeout(() => finish('duration elapsed'), opts.durationMs);
    });
  } finally {
    for (const part of started.reverse()) {
      await part.stop().catch((err: Error) => opts.logger.warn({ err: err.message }, 'stop failed'));
    }
  }
}

import type { Logger } from 'pino';
import { writeCursor } from './segment-files.js';

/** Rewrites the cursor file at most once per interval, one write at a time. */
export function cursorWriter(dir: string, intervalMs: number, acked: () => number, log: Logger) {
  let written = -1;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  const schedule = (): void => {
    if (timer !== null) return;
    timer = setTimeout(write, intervalMs);
    timer.unref();
  };
  const write = (): Promise<void> => {
    timer = null;
    inFlight = inFlight.then(async () => {
      const value = acked();
      if (value === written) return;
      try {
        await writeCursor(dir, value);
        written = value;
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, 'bridge store: cursor not written; will retry');
        schedule();
      }
    });
    return inFlight;
  };
  return {
    dirty: schedule,
    /** Writes now (at close); a failure is logged, and not retried once the store is closed. */
    flush: async () => {
      if (timer !== null) clearTimeout(timer);
      await write();
      if (timer !== null) clearTimeout(timer);
    },
  };
}

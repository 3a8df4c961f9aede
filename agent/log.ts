import { type Logger, pino } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger } from 'pino';

export interface LogInit {
  level: string;
  format: 'json' | 'pretty';
  /** Where lines go; stdout unless a test or the demo's live view needs them elsewhere. */
  destination?: NodeJS.WritableStream;
}

/** The root logger; each part takes `root.child({ component })`. */
export function createLogger(init: LogInit): Logger {
  if (init.format === 'pretty') {
    // Formatted on this thread, not by a pino transport: a transport starts a worker that
    // loads pino-pretty by name from node_modules, which a release executable does not have.
    const out = init.destination ?? process.stdout;
    const tty = (out as NodeJS.WriteStream).isTTY === true;
    return pino(
      { level: init.level },
      PinoPretty({ colorize: tty, translateTime: 'HH:MM:ss.l', destination: out, sync: true }),
    );
  }
  return init.destination ? pino({ level: init.level }, init.destination) : pino({ level: init.level });
}

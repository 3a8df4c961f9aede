import { type Logger, pino } from 'pino';

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
    return pino({
      level: init.level,
      transport: {
        target: 'pino-pretty',
        options: { colorize: process.stdout.isTTY, translateTime: 'HH:MM:ss.l' },
      },
    });
  }
  return init.destination ? pino({ level: init.level }, init.destination) : pino({ level: init.level });
}

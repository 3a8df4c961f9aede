import { type Logger, type LoggerOptions, pino } from 'pino';
import { PinoPretty } from 'pino-pretty';
import { FieldmeshError } from '../protocol/errors.js';
import { LOG_LEVEL_NAMES } from './config/schema.js';

export type { Logger } from 'pino';

const LEVELS: readonly string[] = LOG_LEVEL_NAMES;

/** Key of the root level in `LogLevels.levels()`: no component may be named `*`. */
export const ROOT_LEVEL_KEY = '*';

export interface LogInit {
  level: string;
  format: 'json' | 'pretty';
  /** Level per component (the `component` binding of a child logger), over `level`. */
  levels?: Readonly<Record<string, string>>;
  /** Where lines go; stdout unless a test or the demo's live view needs them elsewhere. */
  destination?: NodeJS.WritableStream;
}

/** Run-time control of log levels (the HTTP API calls it; tests too). */
export interface LogLevels {
  /** `*` → the root level, and every component configured or seen so far → its level now. */
  levels(): Record<string, string>;
  /**
   * Sets one component's level, for its loggers now and those made later; `undefined` sets
   * the root and every component to `level` (dropping the per-component levels).
   */
  set(component: string | undefined, level: string): void;
}

export interface Logging {
  logger: Logger;
  levels: LogLevels;
}

/** The root logger; each part takes `root.child({ component })`. */
export function createLogger(init: LogInit): Logger {
  return createLogging(init).logger;
}

/**
 * The root logger and the control of its levels. Children are tracked through pino's
 * `onChild` (inherited by grandchildren), each held by a WeakRef so that the loggers of
 * short-lived parts (a peer session, a request) are collected as before.
 */
export function createLogging(init: LogInit): Logging {
  const overrides = new Map<string, string>();
  for (const [component, level] of Object.entries(init.levels ?? {}))
    overrides.set(component, checked(level));
  let rootLevel = checked(init.level);
  const children = new Set<WeakRef<Logger>>();
  const seen = new Set<string>(overrides.keys());
  const registry = new FinalizationRegistry<WeakRef<Logger>>((ref) => children.delete(ref));

  // A child without a configured level of its own follows the root, as pino children do.
  const levelFor = (component: string | undefined): string =>
    (component === undefined ? undefined : overrides.get(component)) ?? rootLevel;

  const apply = (child: Logger): void => {
    const component = componentOf(child);
    child.level = levelFor(component);
  };

  const onChild = (child: Logger): void => {
    const component = componentOf(child);
    if (component !== undefined) seen.add(component);
    apply(child);
    const ref = new WeakRef(child);
    children.add(ref);
    registry.register(child, ref);
  };

  const logger = rootLogger(init, { level: rootLevel, onChild });
  const levels: LogLevels = {
    levels() {
      const out: Record<string, string> = { [ROOT_LEVEL_KEY]: rootLevel };
      for (const component of [...seen].sort()) out[component] = levelFor(component);
      return out;
    },
    set(component, level) {
      const valid = checked(level);
      if (component === undefined || component === ROOT_LEVEL_KEY) {
        rootLevel = valid;
        overrides.clear();
        logger.level = valid;
      } else {
        overrides.set(component, valid);
        seen.add(component);
      }
      for (const ref of children) {
        const child = ref.deref();
        if (child === undefined) children.delete(ref);
        else apply(child);
      }
    },
  };
  return { logger, levels };
}

function rootLogger(init: LogInit, options: LoggerOptions): Logger {
  if (init.format === 'pretty') {
    // Formatted on this thread, not by a pino transport: a transport starts a worker that
    // loads pino-pretty by name from node_modules, which a release executable does not have.
    const out = init.destination ?? process.stdout;
    const tty = (out as NodeJS.WriteStream).isTTY === true;
    return pino(
      options,
      PinoPretty({ colorize: tty, translateTime: 'HH:MM:ss.l', destination: out, sync: true }),
    );
  }
  return init.destination ? pino(options, init.destination) : pino(options);
}

/** The `component` binding, the child's own or the nearest ancestor's. */
function componentOf(child: Logger): string | undefined {
  const c = child.bindings().component;
  return typeof c === 'string' ? c : undefined;
}

function checked(level: string): string {
  if (LEVELS.includes(level)) return level;
  throw new FieldmeshError(
    'LOG_LEVEL_UNKNOWN',
    `unknown log level "${level}": use one of ${LEVELS.join(', ')}`,
  );
}

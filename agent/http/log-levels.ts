/**
 * What the operator API needs of the logger to show and change log levels at run time; the
 * implementation lives with the logger (agent/log.ts). Absent: /v1/log-levels answers 404.
 */
export interface LogLevelControl {
  /** Level per component ("*" or the root for the default). */
  levels(): Record<string, string>;
  /** Sets one component's level, or every component's when `component` is undefined. */
  set(component: string | undefined, level: string): void;
}

/** pino's level names. */
export const PINO_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The body of PUT /v1/log-levels, or a message saying what is wrong with it. */
export function parseLevelChange(
  body: unknown,
): { ok: true; component: string | undefined; level: string } | { ok: false; error: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return {
      ok: false,
      error: 'the body must be {"level":"debug"} or {"component":"receipts","level":"debug"}',
    };
  const { component, level } = body as Record<string, unknown>;
  if (typeof level !== 'string' || !PINO_LEVELS.includes(level))
    return { ok: false, error: `level must be one of ${PINO_LEVELS.join(', ')}` };
  if (component !== undefined && (typeof component !== 'string' || component.length === 0))
    return { ok: false, error: 'component must be a non-empty string (or absent for every component)' };
  return { ok: true, component, level };
}

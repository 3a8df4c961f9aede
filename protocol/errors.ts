/**
 * Base of every fieldmesh error: a stable machine-readable `code` (never reworded once
 * shipped), a message that says what was wrong, where, and what to do, and the `cause`.
 */
export class FieldmeshError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `err` is a FieldmeshError carrying `code`. */
export function hasCode(err: unknown, code: string): err is FieldmeshError {
  return err instanceof FieldmeshError && err.code === code;
}

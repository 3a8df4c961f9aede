import { FieldmeshError } from '../protocol/errors.js';

/** The broker's disk store could not be created or opened. */
export class DiskStorageError extends FieldmeshError {
  readonly dir: string;

  constructor(dir: string, cause: unknown) {
    super(
      'BROKER_STORAGE_DISK_FAILED',
      `embedded broker cannot open its store in ${dir}: ${explain(cause)}`,
      {
        cause,
      },
    );
    this.dir = dir;
  }
}

/** Redis did not answer when the broker started. */
export class RedisUnreachableError extends FieldmeshError {
  /** The Redis URL with any password replaced by `***`. */
  readonly url: string;

  constructor(url: string, timeoutMs: number, cause: unknown) {
    const why =
      cause instanceof Error && cause.message !== '' ? cause.message : `no answer in ${timeoutMs} ms`;
    super(
      'BROKER_STORAGE_REDIS_UNREACHABLE',
      `embedded broker cannot reach Redis at ${url}: ${why} — check that redis-server runs and listens ` +
        'there (redis-cli -u <url> ping), that no firewall is in the way, and the password and DB number in the URL',
      { cause },
    );
    this.url = url;
  }
}

/** Why LevelDB refused, with what to do about it. */
function explain(cause: unknown): string {
  const err = cause as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const inner = err?.cause;
  if (inner?.code === 'LEVEL_LOCKED') {
    return (
      'another process holds its lock — probably another fieldmesh broker (or agent) running with the same ' +
      'data directory: stop it, or give this one its own directory'
    );
  }
  const code = typeof err?.code === 'string' ? err.code : '';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `${String(err.message)} — give the agent's user write access to it, or choose another directory`;
  }
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return `${String(err.message)} — a file is in the way of the directory: move it or choose another directory`;
  }
  const message = typeof inner?.message === 'string' ? inner.message : String(err?.message ?? cause);
  return `${message} — check the directory and the disk (free space, permissions)`;
}

/** `url` safe to log: the password, if any, replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparseable URL)';
  }
}

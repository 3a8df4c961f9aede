import { FieldmeshError } from '../../protocol/errors.js';

/** A bridge setting that can never work; raised by createBridge, before anything starts. */
export class BridgeConfigError extends FieldmeshError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('BRIDGE_CONFIG_INVALID', `bridge: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** The bridge's on-disk queue could not be opened, written or read. */
export class BridgeStoreError extends FieldmeshError {
  readonly path: string;

  constructor(path: string, doing: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      'BRIDGE_STORE_FAILED',
      `bridge store ${path}: ${doing} failed: ${why} — check that the disk is mounted, writable and not full`,
      { cause },
    );
    this.path = path;
  }
}

/** The store refuses writes after a failed one until the bridge has reconnected (see store.ts). */
export class BridgeStoreFailedError extends FieldmeshError {
  constructor(dir: string) {
    super(
      'BRIDGE_STORE_HALTED',
      `bridge store ${dir}: an earlier write failed; writes resume after the local link reconnects`,
    );
  }
}

import type { ClassicLevel } from 'classic-level';
import { FieldmeshError } from '../protocol/errors.js';

/**
 * LevelDB (classic-level) is a native addon with prebuilt bindings for glibc Linux on x64, arm64
 * and armv7, and for musl only on x64. It is loaded when a part first opens a store, not when
 * the program starts: an agent on a machine with no binding (OpenWrt on ARM: musl) then runs
 * everything that needs no LevelDB, and refuses only the part that does, saying which.
 */
let loading: Promise<typeof ClassicLevel> | undefined;

/** What needs the store and how to do without it, for the error message. */
export interface LevelUse {
  /** "the receipt outbox (settlement)" */
  readonly part: string;
  /** "remove the settlement section from the config" */
  readonly without: string;
}

export class LevelUnavailableError extends FieldmeshError {
  constructor(use: LevelUse, cause: unknown) {
    const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    super(
      'LEVELDB_UNAVAILABLE',
      `${use.part} keeps its data in LevelDB, which cannot load on this machine (${machine()}): ${reason}. ` +
        `To run without it, ${use.without}. LevelDB has builds for glibc Linux on x64, arm64 and armv7 (Raspberry Pi OS, Debian, Ubuntu) and for musl on x64 only`,
      { cause },
    );
  }
}

/** classic-level's database class, loaded once; LevelUnavailableError when its binding cannot load. */
export async function loadClassicLevel(use: LevelUse): Promise<typeof ClassicLevel> {
  loading ??= import('classic-level').then((m) => m.ClassicLevel);
  try {
    return await loading;
  } catch (err) {
    loading = undefined; // the next part to ask gets its own message
    throw new LevelUnavailableError(use, err);
  }
}

/** "linux-arm, musl libc": what node-gyp-build matched the prebuilt bindings against. */
function machine(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const header = report?.header;
  const libc = header?.glibcVersionRuntime === undefined ? 'musl or another non-glibc libc' : 'glibc';
  return `${process.platform}-${process.arch}, ${libc}`;
}

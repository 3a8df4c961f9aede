/**
 * Tells the agent when an operator has put a different model manifest on disk, so it can
 * hot-swap the model. Built for a cheap SD card with flaky power: copies land in many writes,
 * editors and rsync replace the file by rename, inotify may be unavailable, and power may cut
 * mid-write. The watcher only reports settled bytes and their digest; parsing and verifying
 * the manifest is the caller's job.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export interface ManifestWatchOptions {
  /** Quiet time after the last file event before the file is read (a copy in progress writes many times). Default 500. */
  debounceMs?: number;
  /** Also re-check by stat every this many ms (filesystems without inotify, missed events). Default 30_000; 0 = no polling. */
  pollMs?: number;
  /**
   * Use `fs.watch` on the manifest's directory. Default true. Set false for tests of polling
   * alone and for filesystems whose inotify misbehaves (some network and FUSE mounts); without
   * it a `pollMs` of 0 means the default poll, since nothing else would notice a change.
   */
  useFsWatch?: boolean;
}

export interface ManifestChange {
  readonly path: string;
  /** The file's bytes as read (the caller parses and verifies them). */
  readonly bytes: Uint8Array;
  /** sha256 hex of the bytes: the caller compares with what it runs. */
  readonly digest: string;
}

export interface ManifestWatch {
  close(): void;
}

const DEFAULT_DEBOUNCE_MS = 500;
const DEFAULT_POLL_MS = 30_000;

/** What one read of the manifest found; `key` is equal for equal outcomes, so repeats are recognised. */
type Reading =
  | { readonly kind: 'content'; readonly key: string; readonly bytes: Uint8Array; readonly digest: string }
  | { readonly kind: 'problem'; readonly key: string; readonly message: string };

/**
 * Calls onChange with the new content each time the file at `path` settles with content different
 * from the last content seen (the content at watch start counts as seen: no call for it).
 * Never throws after start; a file that is missing or unreadable is not a change (calls onProblem once per distinct problem, with a sentence that names the path and what to do).
 */
export async function watchManifest(
  path: string,
  onChange: (c: ManifestChange) => void,
  onProblem: (message: string) => void,
  options: ManifestWatchOptions = {},
): Promise<ManifestWatch> {
  const debounceMs = nonNegative('debounceMs', options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  const pollMs = nonNegative('pollMs', options.pollMs ?? DEFAULT_POLL_MS);
  const watcher = new ManifestWatcher(path, onChange, onProblem, debounceMs, pollMs);
  await watcher.start(options.useFsWatch ?? true);
  return watcher;
}

class ManifestWatcher implements ManifestWatch {
  readonly #path: string;
  readonly #onChange: (c: ManifestChange) => void;
  readonly #onProblem: (message: string) => void;
  readonly #debounceMs: number;
  #pollMs: number;
  #useFsWatch = true;
  /** Digest of the content last delivered or seen at start. */
  #seenDigest: string | undefined;
  /** Key of the problem last reported; a good read clears it so the next problem is reported again. */
  #reportedProblem: string | undefined;
  /** Set when a poll (not a file event) saw an outcome: it counts only if a read after the quiet time sees it again. */
  #unsettledKey: string | undefined;
  #watchFailureReported = false;
  #fsWatcher: FSWatcher | undefined;
  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  /** Reads run one after another so callbacks never overlap and a slow read never overtakes a newer one. */
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #closed = false;

  constructor(
    path: string,
    onChange: (c: ManifestChange) => void,
    onProblem: (message: string) => void,
    debounceMs: number,
    pollMs: number,
  ) {
    this.#path = path;
    this.#onChange = onChange;
    this.#onProblem = onProblem;
    this.#debounceMs = debounceMs;
    this.#pollMs = pollMs;
  }

  async start(useFsWatch: boolean): Promise<void> {
    this.#useFsWatch = useFsWatch;
    // Watch before the first read: a change landing between the two is then not missed.
    const watching = useFsWatch && this.#watchDirectory();
    await this.#enqueue('start');
    this.#startPolling(watching ? this.#pollMs : this.#pollMs || DEFAULT_POLL_MS);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#settleTimer);
    clearInterval(this.#pollTimer);
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
  }

  /**
   * The directory, not the file: `mv new.json manifest.json` and editors that save by rename
   * put a new inode at the path, and a watch on the old inode would never fire again.
   */
  #watchDirectory(): boolean {
    const name = basename(this.#path);
    try {
      const fsWatcher = watch(dirname(this.#path), { persistent: false }, (_event, filename) => {
        // Some platforms give no filename; then any event in the directory may be ours.
        if (filename !== null && filename !== name) return;
        this.#unsettledKey = undefined;
        this.#scheduleSettle();
      });
      fsWatcher.on('error', (err) => this.#watchFailed(err));
      this.#fsWatcher = fsWatcher;
      return true;
    } catch (err) {
      this.#watchFailed(err);
      return false;
    }
  }

  #watchFailed(err: unknown): void {
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
    if (this.#closed) return;
    this.#pollMs ||= DEFAULT_POLL_MS;
    if (!this.#watchFailureReported) {
      this.#watchFailureReported = true;
      this.#report(watchFailureMessage(this.#path, err, this.#pollMs));
    }
    this.#startPolling(this.#pollMs);
  }

  #startPolling(ms: number): void {
    if (ms === 0 || this.#pollTimer !== undefined || this.#closed) return;
    this.#pollTimer = setInterval(() => this.#poll(), ms);
    this.#pollTimer.unref();
  }

  #poll(): void {
    // Retried on each poll: inotify watches get freed and missing directories get created.
    if (this.#useFsWatch && this.#fsWatcher === undefined) this.#watchDirectory();
    // A pending or running read will see the file anyway.
    if (this.#settleTimer !== undefined || this.#queued > 0) return;
    void this.#enqueue('poll');
  }

  #scheduleSettle(): void {
    if (this.#closed) return;
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = undefined;
      void this.#enqueue('settle');
    }, this.#debounceMs);
    this.#settleTimer.unref();
  }

  #enqueue(mode: 'start' | 'settle' | 'poll'): Promise<void> {
    this.#queued += 1;
    const run = this.#queue
      .then(() => this.#check(mode))
      .catch((err: unknown) => this.#report(`watching model manifest ${this.#path} failed: ${describe(err)}`))
      .finally(() => {
        this.#queued -= 1;
      });
    this.#queue = run;
    return run;
  }

  async #check(mode: 'start' | 'settle' | 'poll'): Promise<void> {
    if (this.#closed) return;
    const reading = await readManifest(this.#path, mode === 'start');
    if (this.#closed) return;
    if (mode === 'poll') {
      // No file event marked the end of a write: wait a quiet time and read again first.
      if (!this.#isCurrent(reading)) {
        this.#unsettledKey = reading.key;
        this.#scheduleSettle();
      }
      return;
    }
    if (this.#unsettledKey !== undefined && this.#unsettledKey !== reading.key) {
      this.#unsettledKey = reading.key;
      this.#scheduleSettle();
      return;
    }
    this.#unsettledKey = undefined;
    this.#apply(reading, mode === 'start');
  }

  /** True when acting on `reading` would change nothing. */
  #isCurrent(reading: Reading): boolean {
    if (reading.kind === 'problem') return reading.key === this.#reportedProblem;
    return reading.digest === this.#seenDigest && this.#reportedProblem === undefined;
  }

  #apply(reading: Reading, atStart: boolean): void {
    if (reading.kind === 'problem') {
      if (reading.key === this.#reportedProblem) return;
      this.#reportedProblem = reading.key;
      this.#report(reading.message);
      return;
    }
    this.#reportedProblem = undefined;
    if (reading.digest === this.#seenDigest) return;
    // Marked seen before the call: a handler that throws is not fed the same bytes again.
    this.#seenDigest = reading.digest;
    if (atStart) return;
    try {
      this.#onChange({ path: this.#path, bytes: reading.bytes, digest: reading.digest });
    } catch (err) {
      this.#report(
        `the handler for the new model manifest at ${this.#path} threw (${describe(err)}); ` +
          'the running model stays until the file changes again',
      );
    }
  }

  #report(message: string): void {
    try {
      this.#onProblem(message);
    } catch {
      // A failing problem handler has nowhere left to report to; the watch must go on.
    }
  }
}

async function readManifest(path: string, atStart: boolean): Promise<Reading> {
  let buffer: Buffer;
  try {
    buffer = await readFile(path);
  } catch (err) {
    return readProblem(path, err, atStart);
  }
  if (buffer.byteLength === 0) {
    return {
      kind: 'problem',
      key: 'empty',
      message:
        `model manifest ${path} is empty (0 bytes): a copy still in progress or a power cut mid-write; ` +
        'the running model stays — copy the manifest there again if this does not clear',
    };
  }
  const digest = createHash('sha256').update(buffer).digest('hex');
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return { kind: 'content', key: digest, bytes, digest };
}

function readProblem(path: string, err: unknown, atStart: boolean): Reading {
  if (errorCode(err) === 'ENOENT') {
    const message = atStart
      ? `model manifest ${path} does not exist; put a manifest there and it is loaded`
      : `model manifest ${path} was removed; the running model stays until a new manifest is put there`;
    return { kind: 'problem', key: 'missing', message };
  }
  return {
    kind: 'problem',
    key: `unreadable:${errorCode(err) ?? describe(err)}`,
    message:
      `model manifest ${path} cannot be read (${describe(err)}); the running model stays — ` +
      'check the file and its permissions, and the storage if the error is EIO',
  };
}

function watchFailureMessage(path: string, err: unknown, pollMs: number): string {
  const code = errorCode(err);
  const fix =
    code === 'ENOSPC'
      ? '; raise the sysctl fs.inotify.max_user_watches to get changes picked up at once'
      : code === 'ENOENT'
        ? `; create ${dirname(path)} and put the manifest there`
        : '';
  return (
    `cannot watch ${dirname(path)} for changes to model manifest ${path} (${describe(err)}); ` +
    `checking it every ${pollMs / 1000} s instead${fix}`
  );
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`watchManifest: ${name} must be a finite number of ms ≥ 0, got ${value}`);
  }
  return value;
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ManifestChange,
  type ManifestWatch,
  type ManifestWatchOptions,
  watchManifest,
} from '../../../agent/infer/model-watch.js';
import { withTimeout } from '../../helpers/wait-for.js';

const FAST: ManifestWatchOptions = { debounceMs: 50, pollMs: 0 };

function manifest(version: number): string {
  return JSON.stringify({
    name: 'vibration-ae',
    file: `vibration-ae-${version}.onnx`,
    sha256: 'ab'.repeat(32),
  });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function text(change: ManifestChange): string {
  return Buffer.from(change.bytes).toString('utf8');
}

/** Records what a watch reports; `changeCount(n)` / `problemCount(n)` wait until n have arrived. */
function recorder() {
  const changes: ManifestChange[] = [];
  const problems: string[] = [];
  const waiters: { ready: () => boolean; resolve: () => void }[] = [];
  const wake = () => {
    for (const w of waiters.filter((x) => x.ready())) w.resolve();
  };
  const until = (ready: () => boolean, what: string) =>
    ready()
      ? Promise.resolve()
      : withTimeout(new Promise<void>((resolve) => waiters.push({ ready, resolve })), what);
  return {
    changes,
    problems,
    onChange: (c: ManifestChange) => {
      changes.push(c);
      wake();
    },
    onProblem: (m: string) => {
      problems.push(m);
      wake();
    },
    changeCount: (n: number) => until(() => changes.length >= n, `${n} manifest change(s)`),
    problemCount: (n: number) => until(() => problems.length >= n, `${n} manifest problem(s)`),
  };
}

/**
 * The only fixed wait here, and never used to assert that something happened: it gives the
 * watcher time to wrongly react to a write before a later, distinguishable write is made.
 */
function quietTime(ms = 300): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('watchManifest', () => {
  let dir: string;
  let path: string;
  const watches: ManifestWatch[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fieldmesh-model-watch-'));
    path = join(dir, 'manifest.json');
    await writeFile(path, manifest(1));
  });

  afterEach(async () => {
    for (const w of watches.splice(0)) w.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(options: ManifestWatchOptions = FAST, at = path) {
    const r = recorder();
    watches.push(await watchManifest(at, r.onChange, r.onProblem, options));
    return r;
  }

  it('reports an in-place rewrite once, with its bytes and sha256, and nothing for the content at start', async () => {
    const r = await start();
    await writeFile(path, manifest(2));
    await r.changeCount(1);
    expect(r.changes[0]).toEqual({ path, bytes: expect.any(Uint8Array), digest: sha256(manifest(2)) });
    expect(text(r.changes[0]!)).toBe(manifest(2));

    await writeFile(path, manifest(3));
    await r.changeCount(2);
    expect(r.changes.map(text)).toEqual([manifest(2), manifest(3)]);
    expect(r.problems).toEqual([]);
  });

  it('does not report a rewrite with identical bytes', async () => {
    const r = await start();
    await writeFile(path, manifest(1));
    await quietTime();
    await writeFile(path, manifest(2));
    await r.changeCount(1);
    expect(r.changes.map(text)).toEqual([manifest(2)]);
  });

  it('follows an atomic rename over the manifest, and later writes to the new file', async () => {
    const r = await start();
    const staged = join(dir, '.manifest.json.tmp');
    await writeFile(staged, manifest(2));
    await rename(staged, path);
    await r.changeCount(1);
    expect(text(r.changes[0]!)).toBe(manifest(2));

    await writeFile(path, manifest(3));
    await r.changeCount(2);
    expect(r.changes.map(text)).toEqual([manifest(2), manifest(3)]);
  });

  it('reports a copy written in many chunks once, with the final bytes only', async () => {
    // Longer quiet time: on a loaded 2-core box the chunks must still land within it.
    const r = await start({ debounceMs: 400, pollMs: 0 });
    const final = manifest(2);
    // As cp does it: truncate, then append piece by piece; every piece before the last leaves
    // truncated JSON on disk.
    const pieces = Array.from({ length: 21 }, (_, i) =>
      final.slice(Math.floor((final.length * i) / 21), Math.floor((final.length * (i + 1)) / 21)),
    );
    const file = await open(path, 'w');
    try {
      for (const piece of pieces) await file.write(piece);
    } finally {
      await file.close();
    }
    await r.changeCount(1);
    expect(r.changes.map(text)).toEqual([final]);
    expect(r.changes[0]!.digest).toBe(sha256(final));

    await writeFile(path, manifest(3));
    await r.changeCount(2);
    expect(r.changes.map(text)).toEqual([final, manifest(3)]);
  });

  it('reports an empty file as a problem, not a change, then picks up the real content', async () => {
    const r = await start();
    await writeFile(path, '');
    await r.problemCount(1);
    expect(r.problems[0]).toContain(path);
    expect(r.problems[0]).toMatch(/empty.*copy/);
    expect(r.changes).toEqual([]);

    await writeFile(path, manifest(2));
    await r.changeCount(1);
    expect(r.changes.map(text)).toEqual([manifest(2)]);
  });

  it('reports a removed manifest once, then the new one put back', async () => {
    const r = await start();
    await unlink(path);
    await r.problemCount(1);
    expect(r.problems).toEqual([
      `model manifest ${path} was removed; the running model stays until a new manifest is put there`,
    ]);

    await writeFile(path, manifest(2));
    await r.changeCount(1);
    expect(r.changes.map(text)).toEqual([manifest(2)]);
    expect(r.problems).toHaveLength(1);
  });

  it('picks up a change by polling alone, without fs.watch', async () => {
    const r = await start({ debounceMs: 50, pollMs: 100, useFsWatch: false });
    await writeFile(path, manifest(2));
    await r.changeCount(1);
    expect(r.changes.map(text)).toEqual([manifest(2)]);
    expect(r.problems).toEqual([]);
  });

  it('falls back to polling when the directory cannot be watched, and says so once', async () => {
    const missingDir = join(dir, 'models');
    const at = join(missingDir, 'manifest.json');
    const r = await start({ debounceMs: 50, pollMs: 100 }, at);
    expect(r.problems).toHaveLength(2);
    expect(r.problems[0]).toMatch(new RegExp(`cannot watch ${missingDir} .*checking it every 0.1 s instead`));
    expect(r.problems[1]).toBe(`model manifest ${at} does not exist; put a manifest there and it is loaded`);

    await mkdir(missingDir);
    await writeFile(at, manifest(2));
    await r.changeCount(1);
    expect(r.changes.map(text)).toEqual([manifest(2)]);
    expect(r.problems).toHaveLength(2);
  });

  it('keeps watching when the change handler throws, and reports the failure', async () => {
    const r = recorder();
    let calls = 0;
    const onChange = (c: ManifestChange) => {
      calls += 1;
      if (calls === 1) throw new Error('model slot busy');
      r.onChange(c);
    };
    watches.push(await watchManifest(path, onChange, r.onProblem, FAST));
    await writeFile(path, manifest(2));
    await r.problemCount(1);
    expect(r.problems[0]).toContain(`new model manifest at ${path} threw (model slot busy)`);

    await writeFile(path, manifest(3));
    await r.changeCount(1);
    expect(r.changes.map(text)).toEqual([manifest(3)]);
  });

  it('calls nothing after close()', async () => {
    const closed = await start();
    const still = await start();
    watches[0]!.close();
    await writeFile(path, manifest(2));
    await still.changeCount(1);
    await unlink(path);
    await still.problemCount(1);
    expect(closed.changes).toEqual([]);
    expect(closed.problems).toEqual([]);
  });
});

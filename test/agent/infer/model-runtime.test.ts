import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRuntime, type RuntimeConfig } from '../../../agent/infer/model-runtime.js';
import { buildHeavyModel } from '../../../bench/mesh/model.js';
import { FieldmeshError } from '../../../protocol/errors.js';
import { quietLogger } from '../../helpers/broker.js';
import { unknownOperatorBytes } from '../../models/standard-fixtures.js';
import { bytesByName, windows } from '../offload/helpers.js';

const EXAMPLES = path.resolve('models/examples');
let dir: string;

function modelConfig(id: string, manifest: string, worker: boolean | 'auto'): RuntimeConfig {
  return { id, manifest, threads: 1, memoryArena: true, warmupRuns: 1, worker, backend: 'native' };
}

/** OS threads of this process: a worker thread adds at least one while it runs. */
async function threads(): Promise<number> {
  return (await readdir('/proc/self/task')).length;
}

/** Waits up to 3 s for the thread count to come back down to `n` (a thread exits shortly after terminate). */
async function threadsBackTo(n: number): Promise<number> {
  const until = Date.now() + 3000;
  let now = await threads();
  while (now > n && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 20));
    now = await threads();
  }
  return now;
}

/** A manifest in `dir` for the given bytes, optionally with its first input renamed. */
async function manifestFor(name: string, bytes: Uint8Array, inputName?: string): Promise<string> {
  const base = JSON.parse(await readFile(path.join(EXAMPLES, 'vibration-ae/manifest.json'), 'utf8'));
  await writeFile(path.join(dir, `${name}.onnx`), bytes);
  base.file = `${name}.onnx`;
  base.sha256 = createHash('sha256').update(bytes).digest('hex');
  if (inputName) base.inputs[0].name = inputName;
  const file = path.join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(base));
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fm-runtime-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ModelRuntime in a worker thread', () => {
  it.each(['vibration-ae', 'temperature-ae'])('gives %s results identical to the main thread', async (id) => {
    const manifest = path.join(EXAMPLES, id, 'manifest.json');
    const inWorker = await ModelRuntime.load(modelConfig(id, manifest, true), { logger: quietLogger });
    const inline = await ModelRuntime.load(modelConfig(id, manifest, false), { logger: quietLogger });
    try {
      expect([inWorker.inWorker, inline.inWorker]).toEqual([true, false]);
      const before = await threads();
      const another = await ModelRuntime.load(modelConfig(id, manifest, true), { logger: quietLogger });
      expect(await threads()).toBeGreaterThan(before); // so the "no thread left" checks below can fail
      await another.close();
      expect(await threadsBackTo(before)).toBe(before);
      const input = windows(5, inWorker.windowSize, 42);
      const [a, b] = await Promise.all([inWorker.run(input, 5), inline.run(input, 5)]);
      expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
      expect(bytesByName(a as never)).toEqual(bytesByName(b as never));
      expect(a.score?.dims).toEqual([5]);
      expect(inWorker.computeUs).toBeGreaterThan(0);
    } finally {
      await inWorker.close();
      await inline.close();
    }
  });

  it('answers concurrent calls each with its own rows', async () => {
    const manifest = path.join(EXAMPLES, 'vibration-ae/manifest.json');
    const m = await ModelRuntime.load(modelConfig('v', manifest, true), { logger: quietLogger });
    try {
      const inputs = [1, 2, 3, 4, 5, 6].map((seed) => windows(1, 32, seed));
      const together = await Promise.all(inputs.map((input) => m.run(input, 1)));
      for (const [i, input] of inputs.entries()) {
        expect(bytesByName(together[i] as never)).toEqual(bytesByName((await m.run(input, 1)) as never));
      }
      expect(m.stats).toEqual({ runs: 1 + 12, failures: 0 });
    } finally {
      await m.close();
    }
  });

  it('fails the calls waiting on a thread that dies, and starts a new thread for the next call', async () => {
    const manifest = path.join(EXAMPLES, 'vibration-ae/manifest.json');
    const m = await ModelRuntime.load(modelConfig('v', manifest, true), { logger: quietLogger });
    try {
      const input = windows(2, 32, 7);
      const expected = bytesByName((await m.run(input, 2)) as never);
      const pending = m.run(input, 2);
      const backend = (m as unknown as { session: { worker: { terminate(): Promise<number> } } }).session;
      await backend.worker.terminate();
      const err = await pending.then(
        () => null,
        (e: unknown) => e,
      );
      // The call either finished before the thread went, or failed saying why.
      if (err !== null) {
        expect(err).toBeInstanceOf(FieldmeshError);
        expect((err as FieldmeshError).code).toBe('MODEL_WORKER_FAILED');
        expect((err as Error).message).toMatch(/model "v": its inference thread exited/);
      }
      expect(bytesByName((await m.run(input, 2)) as never)).toEqual(expected);
    } finally {
      await m.close();
    }
  });

  it.each([true, false])(
    'refuses a graph onnxruntime cannot run and leaves no thread behind (worker: %s)',
    async (worker) => {
      const before = await threads();
      const manifest = await manifestFor(`garbage-${worker}`, unknownOperatorBytes());
      const err = await ModelRuntime.load(modelConfig('bad', manifest, worker), {
        logger: quietLogger,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FieldmeshError);
      expect((err as FieldmeshError).code).toBe('MODEL_LOAD_FAILED');
      expect((err as Error).message).toMatch(
        /model "bad" \(.*garbage.*\.onnx\): onnxruntime refused it: .*NoSuchOperator/,
      );
      expect(await threadsBackTo(before)).toBe(before);
    },
  );

  it('refuses a manifest whose input is not in the graph, before starting a thread', async () => {
    const before = await threads();
    const bytes = await readFile(path.join(EXAMPLES, 'vibration-ae/model.onnx'));
    const manifest = await manifestFor('renamed', bytes, 'samples');
    const err = await ModelRuntime.load(modelConfig('renamed', manifest, true), {
      logger: quietLogger,
    }).catch((e: unknown) => e);
    expect((err as FieldmeshError).code).toBe('MODEL_LOAD_FAILED');
    expect((err as Error).message).toContain(
      'input "samples" is declared but the model has no such input (it has "window")',
    );
    expect(await threadsBackTo(before)).toBe(before);
  });

  it('with worker: auto, keeps a fast model on the main thread and moves a slow one to a worker', async () => {
    const fast = await ModelRuntime.load(
      modelConfig('fast', path.join(EXAMPLES, 'vibration-ae/manifest.json'), 'auto'),
      { logger: quietLogger },
    );
    const heavy = await buildHeavyModel(path.join(dir, 'heavy'), 32); // ≈ 3 ms a call, more on slower machines
    const slow = await ModelRuntime.load(modelConfig('slow', heavy.manifestPath, 'auto'), {
      logger: quietLogger,
    });
    try {
      expect(fast.inWorker).toBe(false);
      expect(slow.inWorker).toBe(true);
      expect(slow.computeUs).toBeGreaterThanOrEqual(1000);
      const out = await slow.run(windows(1, slow.windowSize, 3), 1);
      expect(Object.values(out).every((t) => t.data.length > 0)).toBe(true);
    } finally {
      await fast.close();
      await slow.close();
    }
  });
});

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelFile, readManifest } from '../../models/manifest.js';
import { expectClose } from './helpers.js';
import { failsOnDataModel, type SwapFixture, scaledModel, slowModel } from './swap-fixtures.js';

const W = 32;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fm-swap-fixtures-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Opens the model the way the agent does: through the manifest, with every graph optimisation. */
async function open(f: SwapFixture): Promise<ort.InferenceSession> {
  const file = await loadModelFile(f.manifestPath);
  return ort.InferenceSession.create(file.bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

async function scores(session: ort.InferenceSession, windows: Float32Array): Promise<Float32Array> {
  const rows = windows.length / W;
  const out = await session.run({ input: new ort.Tensor('float32', windows, [rows, W]) });
  expect(out.score?.dims).toEqual([rows]);
  return out.score?.data as Float32Array;
}

/** Row r, reading i: (r + 1) × (i − W/2) / W, so every row has a first reading in (−1, 0). */
function windows(rows: number): Float32Array {
  return Float32Array.from({ length: rows * W }, (_, k) => ((Math.floor(k / W) + 1) * ((k % W) - W / 2)) / W);
}

function meanSquares(input: Float32Array, factor = 1): number[] {
  const out: number[] = [];
  for (let r = 0; r < input.length / W; r++) {
    const row = input.subarray(r * W, (r + 1) * W);
    out.push((factor * row.reduce((a, v) => a + v * v, 0)) / W);
  }
  return out;
}

/** The manifest names exactly the bytes the fixture wrote and reported, and the agent's reader accepts it. */
async function expectManifestMatchesBytes(f: SwapFixture, window = W): Promise<void> {
  const { manifest, modelPath } = await readManifest(f.manifestPath);
  const bytes = await readFile(modelPath);
  expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
  expect(manifest.sha256).toBe(f.sha256);
  expect(manifest.version).toBe(f.version);
  expect(path.basename(modelPath)).toContain(f.version);
  expect(manifest.preprocessing.window).toBe(window);
  const loaded = await loadModelFile(f.manifestPath);
  expect(loaded.sha256).toBe(f.sha256);
}

/** µs per window of single-window calls: the median of 5 blocks of `runs` calls, after a warm-up. */
async function perWindowUs(session: ort.InferenceSession, runs: number): Promise<number> {
  // Straight session.run: vitest's expect() in scores() would cost more than the fast model.
  const feeds = { input: new ort.Tensor('float32', windows(1), [1, W]) };
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const blocks: number[] = [];
  for (let b = 0; b < 5; b++) {
    const start = performance.now();
    for (let i = 0; i < runs; i++) await session.run(feeds);
    blocks.push(((performance.now() - start) * 1000) / runs);
  }
  return blocks.sort((a, b) => a - b)[2] as number;
}

describe('scaledModel', () => {
  it('scores factor × mean square, in batches of 1 and 3, with the threshold asked for', async () => {
    const f = await scaledModel({
      dir,
      manifestPath: path.join(dir, 'scaled.json'),
      id: 'scaled',
      version: '1.0.0',
      factor: 2.5,
      window: W,
      threshold: 0.75,
    });
    await expectManifestMatchesBytes(f);
    expect((await readManifest(f.manifestPath)).manifest.postprocessing.threshold).toBe(0.75);
    const session = await open(f);
    try {
      for (const rows of [1, 3]) {
        const input = windows(rows);
        expectClose(await scores(session, input), meanSquares(input, 2.5), 1e-5);
      }
    } finally {
      await session.release();
    }
  });

  it('writes a new version to the same manifest path without touching the old version’s bytes', async () => {
    const manifestPath = path.join(dir, 'swapped.json');
    const v1 = await scaledModel({
      dir,
      manifestPath,
      id: 'swapped',
      version: '1.0.0',
      factor: 1,
      window: W,
    });
    const v2 = await scaledModel({
      dir,
      manifestPath,
      id: 'swapped',
      version: '2.0.0',
      factor: 3,
      window: W,
    });
    expect(v2.sha256).not.toBe(v1.sha256);
    await expectManifestMatchesBytes(v2);
    const oldBytes = await readFile(path.join(dir, 'swapped-1.0.0.onnx'));
    expect(createHash('sha256').update(oldBytes).digest('hex')).toBe(v1.sha256);
    expect((await readManifest(manifestPath)).manifest.postprocessing.threshold).toBe(1);
    const session = await open(v2);
    try {
      const input = windows(3);
      expectClose(await scores(session, input), meanSquares(input, 3), 1e-5);
    } finally {
      await session.release();
    }
  });
});

describe('failsOnDataModel', () => {
  let f: SwapFixture;
  let session: ort.InferenceSession;
  beforeAll(async () => {
    const manifestPath = path.join(dir, 'fails.json');
    f = await failsOnDataModel({ dir, manifestPath, id: 'fails', version: '1.1.0', window: W });
    session = await open(f);
  });
  afterAll(async () => {
    await session.release();
  });

  it('has a manifest the agent accepts', async () => {
    await expectManifestMatchesBytes(f);
  });

  it('runs all-zero windows, as the agent warms up, scoring 0', async () => {
    for (const rows of [1, 3])
      expectClose(await scores(session, new Float32Array(rows * W)), Array(rows).fill(0));
  });

  it('scores windows whose first reading is in [0, 1) as mean square, in batches of 1 and 3', async () => {
    for (const rows of [1, 3]) {
      const input = windows(rows).map((v) => Math.abs(v));
      for (let r = 0; r < rows; r++) input[r * W] = [0.999, 0, 0.5][r] as number;
      expectClose(await scores(session, input), meanSquares(input), 1e-5);
    }
  });

  it('is refused by onnxruntime for a window whose first reading is 5 (or −2), alone or in a batch', async () => {
    const one = windows(1);
    one[0] = 5;
    await expect(scores(session, one)).rejects.toThrow();
    const three = windows(3);
    three[W] = 5;
    await expect(scores(session, three)).rejects.toThrow();
    // Truncated toward zero, −1.5 indexes the table from its end; −2 is out of it too.
    const negative = windows(1);
    negative[0] = -2;
    await expect(scores(session, negative)).rejects.toThrow();
    negative[0] = -1.5;
    expectClose(await scores(session, negative), meanSquares(negative), 1e-5);
    // The session survives a refused call: the good windows still run.
    expectClose(await scores(session, windows(1)), meanSquares(windows(1)), 1e-5);
  });
});

describe('slowModel', () => {
  it('scores as scaledModel does, and prints how much slower it is per window', async () => {
    const fast = await scaledModel({
      dir,
      manifestPath: path.join(dir, 'fast.json'),
      id: 'fast',
      version: '1.0.0',
      factor: 1,
      window: W,
    });
    const slow = await slowModel({
      dir,
      manifestPath: path.join(dir, 'slow.json'),
      id: 'slow',
      version: '1.0.1',
      window: W,
    });
    await expectManifestMatchesBytes(slow);
    const bytes = await readFile((await readManifest(slow.manifestPath)).modelPath);
    expect(bytes.length).toBeLessThan(2 * 1024 * 1024);
    const fastSession = await open(fast);
    const slowSession = await open(slow);
    try {
      for (const rows of [1, 3]) {
        const input = windows(rows);
        const expected = await scores(fastSession, input);
        const actual = await scores(slowSession, input);
        for (let r = 0; r < rows; r++)
          expect(Math.abs((actual[r] as number) - (expected[r] as number))).toBeLessThanOrEqual(
            1e-4 * Math.abs(expected[r] as number),
          );
      }
      const fastUs = await perWindowUs(fastSession, 200);
      const slowUs = await perWindowUs(slowSession, 10);
      console.log(
        `swap fixtures, W=${W}, batch 1: scaledModel ${fastUs.toFixed(1)} µs/window, ` +
          `slowModel ${slowUs.toFixed(1)} µs/window (${(slowUs / fastUs).toFixed(1)}×)`,
      );
    } finally {
      await fastSession.release();
      await slowSession.release();
    }
  });

  it('scales its score by the factor asked for', async () => {
    const slow = await slowModel({
      dir,
      manifestPath: path.join(dir, 'slow-scaled.json'),
      id: 'slow-scaled',
      version: '2.0.0',
      window: W,
      factor: 4,
    });
    const session = await open(slow);
    try {
      const input = windows(3);
      const expected = meanSquares(input, 4);
      const actual = await scores(session, input);
      for (let r = 0; r < 3; r++)
        expect(Math.abs((actual[r] as number) - (expected[r] as number))).toBeLessThanOrEqual(
          1e-4 * Math.abs(expected[r] as number),
        );
    } finally {
      await session.release();
    }
  });
});

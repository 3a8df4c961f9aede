import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PostprocessSpec } from '../../agent/infer/postprocess.js';
import { inputDims } from '../../models/input-layout.js';
import { loadModelFile } from '../../models/manifest.js';
import { buildHeavyModel } from '../mesh/model.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const VIBRATION_MANIFEST = path.join(ROOT, 'models/examples/vibration-ae/manifest.json');

/**
 * Layers of the mesh suite's dense autoencoder (bench/mesh/model.ts) for the heavier model:
 * 16 shared 1024 × 1024 layers ≈ 1.5 ms per window on one thread of the bench machine, the
 * range where onnxruntime's own call cost has faded and the wrapper's should have too.
 */
export const HEAVY_DEPTH = 16;

/** What both subjects need to know of one model: its bytes, its input, its pre- and postprocessing. */
export interface BenchModel {
  /** Short name used in metric names: `ae` (vibration-ae) or `heavy`. */
  readonly key: string;
  readonly id: string;
  readonly manifestPath: string;
  readonly bytes: Uint8Array;
  readonly inputName: string;
  readonly windowSize: number;
  /** Input dims of one window (batch of one). */
  readonly dims: readonly number[];
  /** Whether the first input dimension is symbolic, so windows can be batched. */
  readonly batchable: boolean;
  readonly normalise: { mean: number; std: number };
  readonly post: PostprocessSpec;
}

/** The shipped example model, and the heavier one built into `work` (never committed). */
export async function benchModels(work: string, depth: number): Promise<BenchModel[]> {
  const heavy = await buildHeavyModel(path.join(work, 'heavy'), depth);
  return [await describe('ae', VIBRATION_MANIFEST), await describe('heavy', heavy.manifestPath)];
}

async function describe(key: string, manifestPath: string): Promise<BenchModel> {
  const file = await loadModelFile(manifestPath);
  const m = file.manifest;
  const input = m.inputs[0];
  const windowSize = m.preprocessing?.window;
  if (input === undefined || windowSize === undefined) {
    throw new Error(`${manifestPath}: the bench needs one input and preprocessing.window`);
  }
  const p = m.postprocessing;
  return {
    key,
    id: m.id,
    manifestPath,
    bytes: file.bytes,
    inputName: input.name,
    windowSize,
    dims: inputDims(input.shape, 1, windowSize),
    batchable: typeof input.shape[0] === 'string',
    normalise: { mean: m.preprocessing?.normalise?.mean ?? 0, std: m.preprocessing?.normalise?.std ?? 1 },
    // As Pipeline builds it (postSpecOf): score and threshold, labels when there are any.
    post: {
      ...(p?.score === undefined ? {} : { score: p.score }),
      ...(p?.threshold === undefined ? {} : { threshold: p.threshold }),
      ...(p?.labels === undefined || p.labels.length === 0 ? {} : { labels: p.labels }),
      ...(p?.labelOutput === undefined ? {} : { labelOutput: p.labelOutput }),
    },
  };
}

/** `count` raw windows (sine waves of varying phase, the load rig's shape) of `size` samples. */
export function rawWindows(size: number, count: number): Float32Array[] {
  return Array.from({ length: count }, (_, w) =>
    Float32Array.from({ length: size }, (_, i) => 0.8 * Math.sin((w * 3 + i) / 5)),
  );
}

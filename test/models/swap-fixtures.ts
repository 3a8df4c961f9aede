/**
 * Versions of one model for the hot-swap tests: a healthy model whose scores tell versions
 * apart, one that loads and warms up but fails on real data, and one that is right but slow.
 * Each writes its .onnx (named by id and version, so versions never share bytes) and then the
 * manifest at the caller's path, so writing a new version to the same path is a swap.
 */
import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GraphBuilder, type TensorValue } from '../../models/onnx/graph-builder.js';
import { ELEMENT_TYPES } from '../../models/onnx/types.js';
import { createRng } from '../../models/prng.js';

export interface SwapFixture {
  readonly manifestPath: string;
  /** Lower-case hex sha256 of the .onnx bytes, as the manifest names them. */
  readonly sha256: string;
  readonly version: string;
}

interface Common {
  /** Folder for the .onnx: the manifest's own folder or one below it (manifests name files relative to themselves). */
  readonly dir: string;
  readonly manifestPath: string;
  readonly id: string;
  readonly version: string;
  readonly window: number;
}

/** score = factor × mean of squares of the window. Two versions with different factors give different, predictable scores. */
export async function scaledModel(
  o: Common & { readonly factor: number; readonly threshold?: number },
): Promise<SwapFixture> {
  const g = new GraphBuilder('swap_scaled');
  const x = g.input('input', 'float32', ['N', o.window]);
  g.output(scaledMeanSquare(g, x, o.factor), 'score', 'float32', ['N']);
  return write(o, g.toBytes(), o.threshold ?? 1, `score = ${o.factor} × mean square`);
}

/**
 * Loads, and runs fine on all-zero windows (the agent warms models up on zeros), but
 * onnxruntime refuses the call (throws) for a batch holding a window whose first reading is
 * ≥ 1 — or ≤ −2. The first reading, truncated toward zero to an int64, indexes a one-element
 * table holding 1, so indices other than 0 and −1 are out of bounds and Gather fails.
 * Windows whose first reading is in (−2, 1) give the same score as scaledModel with factor 1.
 */
export async function failsOnDataModel(o: Common): Promise<SwapFixture> {
  const g = new GraphBuilder('swap_fails_on_data');
  const x = g.input('input', 'float32', ['N', o.window]);
  const first = g.node('Gather', [x, g.initializerInt64('first_reading', [0], [])], {
    attributes: { axis: { int: 1 } },
  });
  const index = g.node('Cast', [first], { attributes: { to: { int: ELEMENT_TYPES.int64 } } });
  const one = g.node('Gather', [g.initializer('table', [1], [1]), index], {
    attributes: { axis: { int: 0 } },
  });
  g.output(g.mul(scaledMeanSquare(g, x, 1), one), 'score', 'float32', ['N']);
  return write(o, g.toBytes(), 1, 'score = mean square; refuses windows whose first reading is ≥ 1');
}

/** Width of the discarded work in slowModel: a [HIDDEN, HIDDEN] float32 weight is 1 MiB. */
const HIDDEN = 512;
/** MatMul + Tanh layers of discarded work; set for ≥ 30× scaledModel's time per window at W = 32. */
const LAYERS = 128;

/**
 * Same scores as scaledModel(factor) (factor 1 by default) but much slower per window: the
 * window also goes through LAYERS MatMul + Tanh layers of width HIDDEN (one shared weight, so
 * the file stays near 1 MiB), whose sum is multiplied by mean(x − x) — a zero the optimiser
 * cannot see — and added to the score. Tanh keeps the work finite, so 0 × it stays 0.
 */
export async function slowModel(o: Common & { readonly factor?: number }): Promise<SwapFixture> {
  const g = new GraphBuilder('swap_slow');
  const x = g.input('input', 'float32', ['N', o.window]);
  const rng = createRng(7);
  const widen = Float32Array.from({ length: o.window * HIDDEN }, () => rng.normal() / Math.sqrt(o.window));
  const square = Float32Array.from({ length: HIDDEN * HIDDEN }, () => rng.normal() / Math.sqrt(HIDDEN));
  const deep = g.initializer('deep', square, [HIDDEN, HIDDEN]);
  let h = g.tanh(g.matmul(x, g.initializer('widen', widen, [o.window, HIDDEN])));
  for (let l = 0; l < LAYERS; l++) h = g.tanh(g.matmul(h, deep));
  const work = g.node('ReduceSum', [h, g.initializerInt64('work_axes', [1], [1])], {
    attributes: { keepdims: { int: 0 } },
  });
  const zero = g.reduceMean(g.sub(x, x), [1], false);
  const score = g.add(scaledMeanSquare(g, x, o.factor ?? 1), g.mul(work, zero));
  g.output(score, 'score', 'float32', ['N']);
  return write(o, g.toBytes(), 1, `score = ${o.factor ?? 1} × mean square, slowly`);
}

function scaledMeanSquare(g: GraphBuilder, x: TensorValue, factor: number): TensorValue {
  return g.mul(g.reduceMean(g.square(x), [1], false), g.initializer('factor', [factor], []));
}

/** Writes the .onnx, then the manifest by rename, so a watcher never reads half a manifest. */
async function write(o: Common, bytes: Uint8Array, threshold: number, description: string) {
  const onnxPath = path.join(o.dir, `${o.id}-${o.version}.onnx`);
  const file = path.relative(path.dirname(path.resolve(o.manifestPath)), path.resolve(onnxPath));
  if (file.startsWith('..') || path.isAbsolute(file))
    throw new Error(`swap fixture: ${onnxPath} is not in or below the folder of ${o.manifestPath}`);
  await writeFile(onnxPath, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifest = {
    id: o.id,
    version: o.version,
    description: `swap fixture: ${description}`,
    file: file.split(path.sep).join('/'),
    sha256,
    inputs: [{ name: 'input', type: 'float32', shape: ['N', o.window] }],
    outputs: [{ name: 'score', type: 'float32', shape: ['N'] }],
    preprocessing: { window: o.window, normalise: { mean: 0, std: 1 } },
    postprocessing: { score: 'score', threshold },
  };
  const partial = `${o.manifestPath}.${process.pid}.partial`;
  await writeFile(partial, JSON.stringify(manifest, null, 2));
  await rename(partial, o.manifestPath);
  return { manifestPath: o.manifestPath, sha256, version: o.version };
}

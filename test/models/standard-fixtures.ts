/**
 * ONNX files shaped the way common exporters write them, with their manifests, for the
 * "any standard model" tests. Built with fieldmesh's own graph builder, so every byte is known.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GraphBuilder } from '../../models/onnx/graph-builder.js';
import { ELEMENT_TYPES } from '../../models/onnx/types.js';

const FLOAT = ELEMENT_TYPES.float32;
const HALF = ELEMENT_TYPES.float16;

export interface Fixture {
  readonly manifestPath: string;
  readonly manifest: Record<string, unknown>;
}

async function write(dir: string, id: string, bytes: Uint8Array, manifest: Record<string, unknown>) {
  await writeFile(path.join(dir, `${id}.onnx`), bytes);
  const full = {
    id,
    version: '1.0.0',
    description: `test fixture ${id}`,
    file: `${id}.onnx`,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    ...manifest,
  };
  const manifestPath = path.join(dir, `${id}.json`);
  await writeFile(manifestPath, JSON.stringify(full, null, 2));
  return { manifestPath, manifest: full };
}

/**
 * Like a PyTorch Conv1d-style export in half precision: input "input" float16
 * ["batch_size", 1, "time"], output "output" float16 ["batch_size"], the mean square of the window.
 */
export async function halfPrecisionModel(dir: string, window = 16): Promise<Fixture> {
  const g = new GraphBuilder('torch_half');
  const x = g.input('input', 'float16', ['batch_size', 1, 'time']);
  const wide = g.node('Cast', [x], { attributes: { to: { int: FLOAT } } });
  const meanSquare = g.reduceMean(g.square(wide), [1, 2], false);
  g.output(g.node('Cast', [meanSquare], { attributes: { to: { int: HALF } } }), 'output', 'float16', [
    'batch_size',
  ]);
  return write(dir, 'torch-half', g.toBytes(), {
    inputs: [{ name: 'input', type: 'float16', shape: ['batch_size', 1, 'time'] }],
    outputs: [{ name: 'output', type: 'float16', shape: ['batch_size'] }],
    preprocessing: { window, normalise: { mean: 0, std: 1 } },
    postprocessing: { score: 'output', threshold: 2 },
  });
}

/** Weights of the classifier: class c looks at readings i with i % 3 === c. */
export function classifierWeights(window: number): Float32Array {
  const w = new Float32Array(window * 3);
  for (let i = 0; i < window; i++) w[i * 3 + (i % 3)] = 1;
  return w;
}

/**
 * Like a scikit-learn export without ZipMap, with two extra inputs: "float_input" float32
 * ["N", W]; "gain" float32 ["N", 1] (a constant per row) and "offset" int64 [1] (a constant).
 * Outputs "label" int64 ["N"], "probabilities" float32 ["N", 3], "score" float32 ["N"] =
 * mean(gain × x) + offset, and "debug" (undeclared: never asked for).
 */
export async function classifierModel(dir: string, window = 12): Promise<Fixture> {
  const g = new GraphBuilder('sk_classifier');
  const x = g.input('float_input', 'float32', ['N', window]);
  const gain = g.input('gain', 'float32', ['N', 1]);
  const offset = g.input('offset', 'int64', [1]);
  const scaled = g.mul(x, gain);
  const logits = g.matmul(scaled, g.initializer('W', classifierWeights(window), [window, 3]));
  g.output(g.softmax(logits, 1), 'probabilities', 'float32', ['N', 3]);
  const label = g.node('ArgMax', [logits], { attributes: { axis: { int: 1 }, keepdims: { int: 0 } } });
  g.output(label, 'label', 'int64', ['N']);
  const offsetF = g.node('Cast', [offset], { attributes: { to: { int: FLOAT } } });
  g.output(g.add(g.reduceMean(scaled, [1], false), offsetF), 'score', 'float32', ['N']);
  g.output(g.identity(scaled), 'debug', 'float32', ['N', window]);
  return write(dir, 'sk-classifier', g.toBytes(), {
    inputs: [
      { name: 'float_input', type: 'float32', shape: ['N', window] },
      { name: 'gain', type: 'float32', shape: ['N', 1], fill: { constant: 2 } },
      { name: 'offset', type: 'int64', shape: [1], fill: { constant: 3 } },
    ],
    outputs: [
      { name: 'label', type: 'int64', shape: ['N'] },
      { name: 'probabilities', type: 'float32', shape: ['N', 3] },
      { name: 'score', type: 'float32', shape: ['N'] },
    ],
    preprocessing: { window, normalise: { mean: 10, std: 2 } },
    postprocessing: {
      score: 'score',
      threshold: 3.5,
      labels: ['even', 'odd', 'third'],
      labelOutput: 'probabilities',
    },
  });
}

/** Raw integer counts (an ADC), a fixed batch of one: "counts" int64 [1, W] → "mean" float32 [1]. */
export async function countsModel(dir: string, window = 8): Promise<Fixture> {
  const g = new GraphBuilder('adc_counts');
  const counts = g.input('counts', 'int64', [1, window]);
  const wide = g.node('Cast', [counts], { attributes: { to: { int: FLOAT } } });
  g.output(g.reduceMean(wide, [1], false), 'mean', 'float32', [1]);
  return write(dir, 'adc-counts', g.toBytes(), {
    inputs: [{ name: 'counts', type: 'int64', shape: [1, window] }],
    outputs: [{ name: 'mean', type: 'float32', shape: [1] }],
    preprocessing: { window, normalise: { mean: 0, std: 1 } },
    postprocessing: { score: 'mean', threshold: 100 },
  });
}

/**
 * A graph that reshapes its input to rows of 32 while the manifest says windows of 16: it
 * loads, and onnxruntime refuses the first call.
 */
export async function misfitReshapeModel(dir: string): Promise<Fixture> {
  const g = new GraphBuilder('misfit');
  const x = g.input('x', 'float32', ['N', 'T']);
  const rows = g.node('Reshape', [x, g.initializerInt64('to', [-1, 32], [2])]);
  g.output(g.reduceMean(rows, [1], false), 'score', 'float32', ['N']);
  return write(dir, 'misfit', g.toBytes(), {
    inputs: [{ name: 'x', type: 'float32', shape: ['N', 'T'] }],
    outputs: [{ name: 'score', type: 'float32', shape: ['N'] }],
    preprocessing: { window: 16, normalise: { mean: 0, std: 1 } },
    postprocessing: { score: 'score', threshold: 1 },
  });
}

/**
 * Valid ONNX with the example models' inputs and outputs ("window" ["N", 32] → "score" ["N"],
 * "reconstruction" ["N", 32]) through an operator no onnxruntime has: it passes every check
 * fieldmesh makes, and onnxruntime refuses to create a session.
 */
export function unknownOperatorBytes(): Uint8Array {
  const g = new GraphBuilder('unknown_op');
  const x = g.input('window', 'float32', ['N', 32]);
  const y = g.node('NoSuchOperator', [x]);
  g.output(y, 'reconstruction', 'float32', ['N', 32]);
  g.output(g.reduceMean(y, [1], false), 'score', 'float32', ['N']);
  return g.toBytes();
}

/**
 * A model trained on window features, as a scikit-learn pipeline would be: input "features"
 * float32 ["N", 4] (mean, std, max, slope of 20 readings); output "score" ["N", 1] = the std.
 */
export async function featuresModel(dir: string): Promise<Fixture> {
  const g = new GraphBuilder('features');
  const x = g.input('features', 'float32', ['N', 4]);
  g.output(g.matmul(x, g.initializer('pick_std', [0, 1, 0, 0], [4, 1])), 'score', 'float32', ['N', 1]);
  return write(dir, 'features', g.toBytes(), {
    inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }],
    outputs: [{ name: 'score', type: 'float32', shape: ['N', 1] }],
    preprocessing: { window: 20, features: ['mean', 'std', 'max', 'slope'], normalise: { mean: 0, std: 1 } },
    postprocessing: { score: 'score', threshold: 1 },
  });
}

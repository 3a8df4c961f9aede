/**
 * Trains a dense autoencoder with mini-batch Adam on mean squared reconstruction error. Small
 * and single-threaded on purpose: the example models train in seconds on one core, and the
 * same seed gives the same weights.
 */
import { createRng, type Rng } from '../prng.js';
import { Adam } from './adam.js';
import { type Activation, type DenseLayer, forwardLayers, type Mlp } from './reference.js';

export interface TrainOptions {
  /** Layer widths from input to output, e.g. [32, 16, 8, 16, 32]; first and last must match. */
  readonly sizes: readonly number[];
  readonly hiddenActivation: Activation;
  /** Linear suits normalised (unbounded) values. */
  readonly outputActivation: Activation;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
}

export interface TrainResult {
  /** float64 weights; export through toFloat32/buildAutoencoderModel. */
  readonly mlp: Mlp;
  /** Mean training loss per epoch. */
  readonly losses: readonly number[];
}

interface MutableLayer extends DenseLayer {
  readonly weights: Float64Array;
  readonly bias: Float64Array;
}

/** `data` holds `rows` windows of `sizes[0]` values each, row-major. */
export function trainAutoencoder(data: Float64Array, rows: number, options: TrainOptions): TrainResult {
  const { sizes } = options;
  const width = sizes[0] ?? 0;
  if (sizes.length < 2 || sizes.at(-1) !== width) {
    throw new RangeError(`an autoencoder needs matching input and output widths, got [${sizes.join(', ')}]`);
  }
  if (data.length !== rows * width)
    throw new RangeError(`data has ${data.length} values, expected ${rows} × ${width}`);
  const rng = createRng(options.seed);
  const layers = initLayers(sizes, options, rng);
  const mlp: Mlp = { layers };
  const grads = layers.flatMap((l) => [new Float64Array(l.weights.length), new Float64Array(l.bias.length)]);
  const adam = new Adam(
    layers.flatMap((l) => [l.weights, l.bias]),
    { learningRate: options.learningRate },
  );
  const order = Uint32Array.from({ length: rows }, (_, i) => i);
  const batch = new Float64Array(options.batchSize * width);
  const losses: number[] = [];
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    shuffle(order, rng);
    let lossSum = 0;
    for (let start = 0; start < rows; start += options.batchSize) {
      const n = Math.min(options.batchSize, rows - start);
      for (let r = 0; r < n; r++) {
        const src = (order[start + r] as number) * width;
        batch.set(data.subarray(src, src + width), r * width);
      }
      const x = batch.subarray(0, n * width);
      lossSum += lossAndGradients(mlp, x, n, grads) * n;
      adam.step(grads);
    }
    losses.push(lossSum / rows);
  }
  return { mlp, losses };
}

/**
 * Fills `grads` ([weights, bias] per layer, in layer order) with d(loss)/d(param) for the
 * autoencoder loss on `rows` rows of `x`, and returns that loss (mean squared error).
 */
export function lossAndGradients(
  mlp: Mlp,
  x: Float64Array,
  rows: number,
  grads: readonly Float64Array[],
): number {
  const acts = forwardLayers(mlp, x, rows);
  const out = acts.at(-1) as Float64Array;
  const width = out.length / rows;
  // Loss = mean over rows and columns of (out - x)²; start from its gradient wrt the output.
  let delta: Float64Array = new Float64Array(out.length);
  let loss = 0;
  const scale = 2 / (rows * width);
  for (let i = 0; i < out.length; i++) {
    const d = (out[i] as number) - (x[i] as number);
    loss += d * d;
    delta[i] = scale * d;
  }
  for (let l = mlp.layers.length - 1; l >= 0; l--) {
    const layer = mlp.layers[l] as DenseLayer;
    const a = acts[l] as Float64Array;
    applyActivationGradient(layer.activation, a, delta);
    const prev = l === 0 ? x : (acts[l - 1] as Float64Array);
    accumulateGradients(
      layer,
      prev,
      delta,
      rows,
      grads[2 * l] as Float64Array,
      grads[2 * l + 1] as Float64Array,
    );
    if (l > 0) delta = propagate(layer, delta, rows);
  }
  return loss / (rows * width);
}

/** delta ← delta ⊙ f'(z), with f' written in terms of the output a = f(z). */
function applyActivationGradient(kind: Activation, a: Float64Array, delta: Float64Array): void {
  for (let i = 0; i < a.length; i++) {
    const ai = a[i] as number;
    const d = delta[i] as number;
    if (kind === 'tanh') delta[i] = d * (1 - ai * ai);
    else if (kind === 'relu') delta[i] = ai > 0 ? d : 0;
    else if (kind === 'sigmoid') delta[i] = d * ai * (1 - ai);
  }
}

function accumulateGradients(
  layer: DenseLayer,
  prev: Float64Array,
  delta: Float64Array,
  rows: number,
  gw: Float64Array,
  gb: Float64Array,
): void {
  const { inputs: n, outputs: m } = layer;
  gw.fill(0);
  gb.fill(0);
  for (let r = 0; r < rows; r++) {
    const dr = r * m;
    for (let j = 0; j < m; j++) gb[j] = (gb[j] as number) + (delta[dr + j] as number);
    for (let i = 0; i < n; i++) {
      const p = prev[r * n + i] as number;
      if (p === 0) continue;
      const wi = i * m;
      for (let j = 0; j < m; j++) gw[wi + j] = (gw[wi + j] as number) + p * (delta[dr + j] as number);
    }
  }
}

/** d(loss)/d(layer input) = delta · Wᵀ. */
function propagate(layer: DenseLayer, delta: Float64Array, rows: number): Float64Array {
  const { inputs: n, outputs: m, weights: w } = layer;
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      const wi = i * m;
      for (let j = 0; j < m; j++) s += (delta[r * m + j] as number) * (w[wi + j] as number);
      out[r * n + i] = s;
    }
  }
  return out;
}

/** Glorot-uniform weights, zero biases. */
function initLayers(sizes: readonly number[], options: TrainOptions, rng: Rng): MutableLayer[] {
  const layers: MutableLayer[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inputs = sizes[l] as number;
    const outputs = sizes[l + 1] as number;
    const limit = Math.sqrt(6 / (inputs + outputs));
    const weights = new Float64Array(inputs * outputs);
    for (let i = 0; i < weights.length; i++) weights[i] = rng.uniform(-limit, limit);
    const last = l + 2 === sizes.length;
    const activation = last ? options.outputActivation : options.hiddenActivation;
    layers.push({ inputs, outputs, weights, bias: new Float64Array(outputs), activation });
  }
  return layers;
}

function shuffle(order: Uint32Array, rng: Rng): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
}

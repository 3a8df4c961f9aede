/**
 * The plain-JavaScript forward pass of a dense network: what the trainer optimises and what
 * tests hold onnxruntime's output against. Computes in float64; weights may be float32
 * (as exported) or float64 (while training).
 */
export type Activation = 'tanh' | 'relu' | 'sigmoid' | 'linear';

export type Weights = Float32Array | Float64Array;

export interface DenseLayer {
  readonly inputs: number;
  readonly outputs: number;
  /** Row-major [inputs, outputs], the layout ONNX MatMul(x, W) expects. */
  readonly weights: Weights;
  readonly bias: Weights;
  readonly activation: Activation;
}

export interface Mlp {
  readonly layers: readonly DenseLayer[];
}

export function activate(kind: Activation, z: number): number {
  switch (kind) {
    case 'tanh':
      return Math.tanh(z);
    case 'relu':
      return Math.max(z, 0);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-z));
    case 'linear':
      return z;
  }
}

/** One layer on `rows` rows of `input`; returns rows × layer.outputs. */
export function denseForward(layer: DenseLayer, input: ArrayLike<number>, rows: number): Float64Array {
  const { inputs: n, outputs: m, weights: w, bias: b, activation } = layer;
  const out = new Float64Array(rows * m);
  for (let r = 0; r < rows; r++) {
    const o = r * m;
    for (let j = 0; j < m; j++) out[o + j] = b[j] as number;
    for (let i = 0; i < n; i++) {
      const x = input[r * n + i] as number;
      if (x === 0) continue;
      const wi = i * m;
      for (let j = 0; j < m; j++) out[o + j] = (out[o + j] as number) + x * (w[wi + j] as number);
    }
    for (let j = 0; j < m; j++) out[o + j] = activate(activation, out[o + j] as number);
  }
  return out;
}

/** Every layer's output, in order (the trainer needs them all for backpropagation). */
export function forwardLayers(mlp: Mlp, input: ArrayLike<number>, rows: number): Float64Array[] {
  const outs: Float64Array[] = [];
  let x: ArrayLike<number> = input;
  for (const layer of mlp.layers) {
    const y = denseForward(layer, x, rows);
    outs.push(y);
    x = y;
  }
  return outs;
}

export function forward(mlp: Mlp, input: ArrayLike<number>, rows: number): Float64Array {
  const outs = forwardLayers(mlp, input, rows);
  const last = outs.at(-1);
  if (last === undefined) throw new RangeError('the network has no layers');
  return last;
}

/** Mean squared difference per row: the anomaly score of an autoencoder. */
export function rowMeanSquaredError(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  width: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let i = r * width; i < (r + 1) * width; i++) {
      const d = (a[i] as number) - (b[i] as number);
      sum += d * d;
    }
    out[r] = sum / width;
  }
  return out;
}

/** What the exported autoencoder graph computes: reconstruction and per-row score. */
export function autoencoderScores(
  mlp: Mlp,
  windows: ArrayLike<number>,
  rows: number,
): { scores: Float64Array; reconstruction: Float64Array } {
  const width = mlp.layers[0]?.inputs ?? 0;
  const reconstruction = forward(mlp, windows, rows);
  return { scores: rowMeanSquaredError(reconstruction, windows, rows, width), reconstruction };
}

/** A copy with float32 weights: what the ONNX file stores, so the reference matches it exactly. */
export function toFloat32(mlp: Mlp): Mlp {
  return {
    layers: mlp.layers.map((l) => ({
      ...l,
      weights: Float32Array.from(l.weights),
      bias: Float32Array.from(l.bias),
    })),
  };
}

/** Turns a trained dense network into ONNX graphs with the GraphBuilder. */
import { GraphBuilder, type TensorValue } from '../onnx/graph-builder.js';
import type { Activation, Mlp } from './reference.js';

/** The symbolic batch dimension: callers feed any number of windows at once. */
export const BATCH_DIM = 'N';

export interface AutoencoderModelOptions {
  readonly name: string;
  readonly inputName?: string;
  readonly scoreName?: string;
  readonly reconstructionName?: string;
  readonly docString?: string;
  readonly producerVersion?: string;
  readonly opset?: number;
}

/** MatMul + Add + activation per layer, named `<prefix><index>` so the graph reads like the network. */
export function appendDenseLayers(
  g: GraphBuilder,
  x: TensorValue,
  mlp: Mlp,
  lastOutputName?: string,
): TensorValue {
  let h = x;
  mlp.layers.forEach((layer, i) => {
    const w = g.initializer(`dense${i}.weight`, layer.weights, [layer.inputs, layer.outputs]);
    const b = g.initializer(`dense${i}.bias`, layer.bias, [layer.outputs]);
    const last = i === mlp.layers.length - 1;
    const outName = last && lastOutputName !== undefined ? lastOutputName : undefined;
    const z = g.add(g.matmul(h, w), b, layer.activation === 'linear' ? outName : undefined);
    h = layer.activation === 'linear' ? z : applyActivation(g, layer.activation, z, outName);
  });
  return h;
}

function applyActivation(
  g: GraphBuilder,
  kind: Exclude<Activation, 'linear'>,
  z: TensorValue,
  name?: string,
): TensorValue {
  switch (kind) {
    case 'tanh':
      return g.tanh(z, name);
    case 'relu':
      return g.relu(z, name);
    case 'sigmoid':
      return g.sigmoid(z, name);
  }
}

/**
 * window [N, W] → reconstruction [N, W] and score [N] = mean over W of (reconstruction − window)².
 * Inputs are already normalised: the agent applies the manifest's mean/std, so the same model
 * serves sensors with other units once re-normalised.
 */
export function buildAutoencoderModel(mlp: Mlp, options: AutoencoderModelOptions): Uint8Array {
  const width = mlp.layers[0]?.inputs;
  if (width === undefined || mlp.layers.at(-1)?.outputs !== width) {
    throw new RangeError(`model "${options.name}" is not an autoencoder: input and output widths differ`);
  }
  const inputName = options.inputName ?? 'window';
  const scoreName = options.scoreName ?? 'score';
  const reconstructionName = options.reconstructionName ?? 'reconstruction';
  const g = new GraphBuilder(options.name, {
    ...(options.opset === undefined ? {} : { opset: options.opset }),
    ...(options.docString === undefined ? {} : { docString: options.docString }),
    ...(options.producerVersion === undefined ? {} : { producerVersion: options.producerVersion }),
  });
  const x = g.input(inputName, 'float32', [BATCH_DIM, width]);
  const reconstruction = appendDenseLayers(g, x, mlp, reconstructionName);
  const error = g.sub(reconstruction, x);
  const score = g.reduceMean(g.square(error), [1], false, scoreName);
  g.output(score, scoreName, 'float32', [BATCH_DIM]);
  g.output(reconstruction, reconstructionName, 'float32', [BATCH_DIM, width]);
  return g.toBytes();
}

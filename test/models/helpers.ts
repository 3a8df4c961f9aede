import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { createRng } from '../../models/prng.js';
import type { Activation, Mlp } from '../../models/train/reference.js';

/** Runs `bytes` in a real onnxruntime session on float32 feeds; returns outputs by name. */
export async function runOnnx(
  bytes: Uint8Array,
  feeds: Record<string, { data: Float32Array; dims: readonly number[] }>,
): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) inputs[name] = new ort.Tensor('float32', f.data, f.dims);
    const results = await session.run(inputs);
    const out: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    for (const [name, t] of Object.entries(results))
      out[name] = { data: t.data as Float32Array, dims: t.dims };
    return out;
  } finally {
    await session.release();
  }
}

/** Element-wise |a − b| ≤ tol, reporting the first index that is not. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs((actual[i] as number) - (expected[i] as number));
    if (!(diff <= tol)) expect.fail(`index ${i}: ${actual[i]} vs ${expected[i]} (|diff| ${diff} > ${tol})`);
  }
}

export function randomFloats(seed: number, n: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** A dense network with float32 weights drawn from `seed`. */
export function randomMlp(seed: number, sizes: readonly number[], activations: readonly Activation[]): Mlp {
  const layers = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inputs = sizes[l] as number;
    const outputs = sizes[l + 1] as number;
    layers.push({
      inputs,
      outputs,
      weights: randomFloats(seed * 100 + 2 * l, inputs * outputs, 1 / Math.sqrt(inputs)),
      bias: randomFloats(seed * 100 + 2 * l + 1, outputs, 0.1),
      activation: activations[l] ?? 'linear',
    });
  }
  return { layers };
}

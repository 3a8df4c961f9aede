import { describe, expect, it } from 'vitest';
import { createRng } from '../../../models/prng.js';
import { Adam } from '../../../models/train/adam.js';
import {
  type Activation,
  activate,
  autoencoderScores,
  denseForward,
  forward,
  type Mlp,
  rowMeanSquaredError,
  toFloat32,
} from '../../../models/train/reference.js';
import { lossAndGradients, trainAutoencoder } from '../../../models/train/trainer.js';

describe('reference forward pass', () => {
  it('computes x·W + b with W laid out [inputs, outputs]', () => {
    const layer = {
      inputs: 2,
      outputs: 2,
      weights: Float32Array.of(1, 2, 3, 4),
      bias: Float32Array.of(0.5, -0.5),
    };
    expect(Array.from(denseForward({ ...layer, activation: 'linear' }, [1, 1, 2, 0], 2))).toEqual([
      4.5, 5.5, 2.5, 3.5,
    ]);
    expect(Array.from(denseForward({ ...layer, activation: 'relu' }, [-1, 0], 1))).toEqual([0, 0]);
  });

  it('applies each activation as defined', () => {
    expect(activate('tanh', 0.5)).toBe(Math.tanh(0.5));
    expect(activate('sigmoid', 0)).toBe(0.5);
    expect(activate('relu', -2)).toBe(0);
    expect(activate('relu', 2)).toBe(2);
    expect(activate('linear', -7)).toBe(-7);
  });

  it('scores each row by its mean squared error', () => {
    expect(Array.from(rowMeanSquaredError([1, 2, 0, 0], [0, 0, 0, 2], 2, 2))).toEqual([2.5, 2]);
    const identity: Mlp = {
      layers: [
        {
          inputs: 2,
          outputs: 2,
          weights: Float64Array.of(1, 0, 0, 1),
          bias: new Float64Array(2),
          activation: 'linear',
        },
      ],
    };
    const { scores, reconstruction } = autoencoderScores(identity, [3, 4], 1);
    expect(Array.from(scores)).toEqual([0]);
    expect(Array.from(reconstruction)).toEqual([3, 4]);
  });

  it('refuses a network without layers and copies weights to float32 for export', () => {
    expect(() => forward({ layers: [] }, [1], 1)).toThrow(/no layers/);
    const mlp: Mlp = {
      layers: [
        {
          inputs: 1,
          outputs: 1,
          weights: Float64Array.of(0.1),
          bias: Float64Array.of(0),
          activation: 'tanh',
        },
      ],
    };
    const f32 = toFloat32(mlp);
    expect(f32.layers[0]?.weights).toBeInstanceOf(Float32Array);
    expect(f32.layers[0]?.weights[0]).toBe(Math.fround(0.1));
    expect(mlp.layers[0]?.weights[0]).toBe(0.1);
  });
});

function tinyMlp(seed: number, activations: Activation[], sizes: number[]): Mlp {
  const rng = createRng(seed);
  return {
    layers: activations.map((activation, l) => {
      const inputs = sizes[l] as number;
      const outputs = sizes[l + 1] as number;
      return {
        inputs,
        outputs,
        weights: Float64Array.from({ length: inputs * outputs }, () => rng.normal() * 0.7),
        bias: Float64Array.from({ length: outputs }, () => rng.normal() * 0.1),
        activation,
      };
    }),
  };
}

describe('lossAndGradients', () => {
  it.each<Activation>(['tanh', 'sigmoid', 'relu'])(
    'matches central finite differences (%s hidden layers)',
    (act) => {
      const sizes = [3, 4, 2, 3];
      const mlp = tinyMlp(11, [act, act, 'linear'], sizes);
      const rng = createRng(5);
      const rows = 4;
      const x = Float64Array.from({ length: rows * 3 }, () => rng.normal());
      const grads = mlp.layers.flatMap((l) => [
        new Float64Array(l.weights.length),
        new Float64Array(l.bias.length),
      ]);
      const loss = lossAndGradients(mlp, x, rows, grads);
      expect(loss).toBeCloseTo(
        rowMeanSquaredError(forward(mlp, x, rows), x, rows, 3).reduce((a, b) => a + b) / rows,
        12,
      );
      const params = mlp.layers.flatMap((l) => [l.weights as Float64Array, l.bias as Float64Array]);
      const scratch = grads.map((g) => new Float64Array(g.length));
      const h = 1e-6;
      params.forEach((p, k) => {
        for (let i = 0; i < p.length; i++) {
          const keep = p[i] as number;
          p[i] = keep + h;
          const up = lossAndGradients(mlp, x, rows, scratch);
          p[i] = keep - h;
          const down = lossAndGradients(mlp, x, rows, scratch);
          p[i] = keep;
          expect(grads[k]?.[i]).toBeCloseTo((up - down) / (2 * h), 6);
        }
      });
    },
  );
});

describe('trainAutoencoder', () => {
  /** Windows of phase-shifted sinusoids: a two-dimensional family an 8-unit bottleneck can learn. */
  function sineWindows(seed: number, rows: number): Float64Array {
    const rng = createRng(seed);
    const data = new Float64Array(rows * 16);
    for (let r = 0; r < rows; r++) {
      const phase = rng.uniform(0, 2 * Math.PI);
      for (let i = 0; i < 16; i++)
        data[r * 16 + i] = Math.sin((2 * Math.PI * i) / 8 + phase) + 0.05 * rng.normal();
    }
    return data;
  }
  const options = {
    sizes: [16, 8, 4, 8, 16],
    hiddenActivation: 'tanh',
    outputActivation: 'linear',
    epochs: 30,
    batchSize: 16,
    learningRate: 0.01,
    seed: 3,
  } as const;

  it('learns to reconstruct its training family far better than at the start', () => {
    const { losses, mlp } = trainAutoencoder(sineWindows(1, 400), 400, options);
    expect(losses).toHaveLength(30);
    expect(losses.at(-1)).toBeLessThan((losses[0] as number) / 10);
    // And generalises to unseen windows of the same family.
    const unseen = sineWindows(2, 50);
    const mean = autoencoderScores(mlp, unseen, 50).scores.reduce((a, b) => a + b) / 50;
    expect(mean).toBeLessThan(0.05);
  });

  it('is deterministic for a seed, and the seed matters', () => {
    const data = sineWindows(1, 100);
    const quick = { ...options, epochs: 3 };
    const a = trainAutoencoder(data, 100, quick);
    const b = trainAutoencoder(data, 100, quick);
    const c = trainAutoencoder(data, 100, { ...quick, seed: 4 });
    expect(a.losses).toEqual(b.losses);
    expect(Array.from(a.mlp.layers[1]?.weights ?? [])).toEqual(Array.from(b.mlp.layers[1]?.weights ?? []));
    expect(Array.from(a.mlp.layers[1]?.weights ?? [])).not.toEqual(
      Array.from(c.mlp.layers[1]?.weights ?? []),
    );
  });

  it('refuses layer sizes that are not an autoencoder and data of the wrong length', () => {
    expect(() => trainAutoencoder(new Float64Array(16), 1, { ...options, sizes: [16, 8, 4] })).toThrow(
      /matching input and output/,
    );
    expect(() => trainAutoencoder(new Float64Array(15), 1, options)).toThrow(/15 values, expected 1 × 16/);
  });
});

describe('Adam', () => {
  it('minimises a quadratic to its minimum', () => {
    const p = Float64Array.of(5, -3);
    const target = [1, 2];
    const adam = new Adam([p], { learningRate: 0.1 });
    const g = new Float64Array(2);
    for (let t = 0; t < 2000; t++) {
      for (let i = 0; i < 2; i++) g[i] = 2 * ((p[i] as number) - (target[i] as number));
      adam.step([g]);
    }
    expect(p[0]).toBeCloseTo(1, 3);
    expect(p[1]).toBeCloseTo(2, 3);
  });

  it('moves each parameter by about the learning rate on the first step, whatever the gradient scale', () => {
    const p = Float64Array.of(0, 0);
    new Adam([p], { learningRate: 0.01 }).step([Float64Array.of(1000, -0.001)]);
    expect(p[0]).toBeCloseTo(-0.01, 6);
    expect(p[1]).toBeCloseTo(0.01, 4);
  });
});

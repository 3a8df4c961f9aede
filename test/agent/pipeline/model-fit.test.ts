import { describe, expect, it } from 'vitest';
import { modelFitProblems } from '../../../agent/pipeline/model-fit.js';
import { parseManifest } from '../../../models/manifest.js';
import { TensorPlan } from '../../../models/tensor-plan.js';

const manifest = parseManifest(
  {
    id: 'multi',
    version: '1.0.0',
    description: '',
    file: 'multi.onnx',
    sha256: 'b'.repeat(64),
    inputs: [{ name: 'x', type: 'float32', shape: ['N', 8] }],
    outputs: [
      { name: 'recon', type: 'float32', shape: ['N', 8] },
      { name: 'err', type: 'float32', shape: ['N', 1] },
      { name: 'classes', type: 'float32', shape: ['N', 4] },
      { name: 'open', type: 'float32', shape: ['N', 'K'] },
    ],
    preprocessing: { window: 8, normalise: { mean: 0, std: 1 } },
    postprocessing: { score: 'err', threshold: 1 },
  },
  'multi.json',
);
const plan = new TensorPlan('multi', manifest);
const model = { id: 'multi', manifest, windowSize: plan.width, plan };

describe('modelFitProblems', () => {
  it('accepts a one-value-per-window score and as many labels as classes', () => {
    expect(modelFitProblems(model, 8, { score: 'err', threshold: 1 })).toEqual([]);
    expect(modelFitProblems(model, 8, { labelOutput: 'classes', labels: ['a', 'b', 'c', 'd'] })).toEqual([]);
  });

  it('refuses a score output with several values per window, naming its shape', () => {
    expect(modelFitProblems(model, 8, { score: 'recon', threshold: 1 })).toEqual([
      'model "multi": the score output "recon" has shape ["N", 8], 8 values per window, but an anomaly ' +
        'score is one value per window (shape ["N"] or ["N", 1]). Name another output in the manifest\'s ' +
        'postprocessing.score',
    ]);
  });

  it('refuses labels that do not match the classes, and a window of the wrong size, together', () => {
    const problems = modelFitProblems(model, 6, { labelOutput: 'classes', labels: ['a', 'b'] });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain(
      'window.size 6 does not fit model "multi": its input "x" has shape ["N", 8]',
    );
    expect(problems[1]).toContain(
      'the label output "classes" has shape ["N", 4], 4 classes per window, but 2 labels',
    );
  });

  it('leaves an output whose size is open to be checked on the first result', () => {
    expect(modelFitProblems(model, 8, { score: 'open', threshold: 1 })).toEqual([]);
  });
});

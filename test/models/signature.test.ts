import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelSignatureMismatchError } from '../../models/errors.js';
import { loadModelFile, type ModelManifest, parseManifest } from '../../models/manifest.js';
import type { ModelInfo, TensorInfo } from '../../models/onnx/inspect.js';
import { checkModelSignature, signatureDifferences, verifyLoadedModel } from '../../models/signature.js';

const EXAMPLES = path.resolve(import.meta.dirname, '../../models/examples');

function manifest(inputs: unknown[], outputs: unknown[]): ModelManifest {
  const first = outputs[0] as { name: string };
  return parseManifest(
    {
      id: 'm',
      version: '1.0.0',
      description: '',
      file: 'model.onnx',
      sha256: '0'.repeat(64),
      inputs,
      outputs,
      preprocessing: { window: 32, normalise: { mean: 0, std: 1 } },
      postprocessing: { score: first.name, threshold: 1, labels: [] },
    },
    'm.json',
  );
}

function info(inputs: TensorInfo[], outputs: TensorInfo[]): ModelInfo {
  return {
    irVersion: 8,
    producer: { name: 'x', version: '' },
    graphName: 'g',
    opsets: [{ domain: '', version: 17 }],
    inputs,
    outputs,
    nodeCount: 1,
    opTypes: ['Identity'],
    initializerCount: 0,
    byteLength: 1,
    sha256: '0'.repeat(64),
  };
}

const windowIn = { name: 'window', type: 'float32', shape: ['N', 32] };
const scoreOut = { name: 'score', type: 'float32', shape: ['N'] };

describe('signatureDifferences', () => {
  it('finds none when names, types and shapes agree, whatever the symbols are called', () => {
    const m = manifest([windowIn], [scoreOut]);
    expect(
      signatureDifferences(
        m,
        info([{ ...windowIn, shape: ['batch', 32] }], [{ ...scoreOut, shape: [null] }]),
      ),
    ).toEqual([]);
    // A model without declared shapes cannot contradict the manifest.
    expect(
      signatureDifferences(m, info([{ ...windowIn, shape: null }], [{ ...scoreOut, shape: null }])),
    ).toEqual([]);
    // Extra outputs are fine: the agent reads only what the manifest names.
    expect(
      signatureDifferences(m, info([windowIn], [scoreOut, { name: 'debug', type: 'float32', shape: [1] }])),
    ).toEqual([]);
  });

  it('names inputs and outputs the model lacks', () => {
    const diffs = signatureDifferences(
      manifest([windowIn], [scoreOut]),
      info([{ ...windowIn, name: 'input' }], []),
    );
    expect(diffs).toContain('input "window" is declared but the model has no such input (it has "input")');
    expect(diffs).toContain('output "score" is declared but the model has no such output (it has none)');
    expect(diffs).toContain(
      'the model has input "input" (float32 ["N", 32]) that the manifest does not declare',
    );
  });

  it('names type, size, rank and fixed-versus-variable mismatches', () => {
    const m = manifest([windowIn], [scoreOut]);
    const diffs = signatureDifferences(
      m,
      info(
        [{ name: 'window', type: 'float16', shape: [1, 16] }],
        [{ name: 'score', type: 'float32', shape: ['N', 1] }],
      ),
    );
    expect(diffs).toEqual([
      'input "window": manifest says type float32, the model has float16',
      'input "window": manifest says shape ["N", 32], the model has [1, 16] (dimension 0 is declared variable ("N") but the model fixes it to 1)',
      'output "score": manifest says shape ["N"], the model has ["N", 1] (rank 1 vs 2)',
    ]);
    const sized = signatureDifferences(m, info([{ ...windowIn, shape: ['N', 16] }], [scoreOut]));
    expect(sized).toEqual([
      'input "window": manifest says shape ["N", 32], the model has ["N", 16] (dimension 1 is 32 vs 16)',
    ]);
  });

  it('throws ModelSignatureMismatchError listing every difference', () => {
    const m = manifest([windowIn], [scoreOut]);
    let caught: unknown;
    try {
      checkModelSignature(m, info([{ ...windowIn, type: 'int64' }], []), 'models/x/manifest.json');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ModelSignatureMismatchError);
    const err = caught as ModelSignatureMismatchError;
    expect(err.code).toBe('MODEL_SIGNATURE_MISMATCH');
    expect(err.differences).toHaveLength(2);
    expect(err.message).toMatch(
      /^models\/x\/manifest\.json: the manifest does not describe the model's inputs\/outputs/,
    );
    expect(err.message).toContain('type float32, the model has int64');
    expect(err.message).toMatch(/Update the manifest's "inputs"\/"outputs"/);
  });
});

describe('verifyLoadedModel', () => {
  it.each(['vibration-ae', 'temperature-ae'])('accepts the example %s against its manifest', async (id) => {
    const loaded = await loadModelFile(path.join(EXAMPLES, id, 'manifest.json'));
    const read = verifyLoadedModel(loaded);
    expect(read.sha256).toBe(loaded.sha256);
    expect(read.inputs.map((i) => i.name)).toEqual(['window']);
  });

  it('rejects a manifest whose window size differs from the model', async () => {
    const loaded = await loadModelFile(path.join(EXAMPLES, 'vibration-ae', 'manifest.json'));
    const json = structuredClone(loaded.manifest) as unknown as Record<string, unknown>;
    (json.inputs as { shape: unknown[] }[])[0]!.shape = ['N', 64];
    (json.outputs as { shape: unknown[] }[])[1]!.shape = ['N', 64];
    (json.preprocessing as { window: number }).window = 64;
    const wrong = { ...loaded, manifest: parseManifest(json, 'edited.json') };
    expect(() => verifyLoadedModel(wrong)).toThrow(/dimension 1 is 64 vs 32/);
  });
});

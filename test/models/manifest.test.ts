import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ManifestInvalidError,
  ManifestUnreadableError,
  ModelDigestMismatchError,
  ModelFileMissingError,
} from '../../models/errors.js';
import { loadModelFile, parseManifest } from '../../models/manifest.js';

const EXAMPLES = path.resolve(import.meta.dirname, '../../models/examples');

/** A valid manifest document, as JSON data, for tests to break one field at a time. */
function validJson(): Record<string, unknown> {
  return {
    id: 'vibration-ae',
    version: '1.0.0',
    description: 'test',
    file: 'model.onnx',
    sha256: 'a'.repeat(64),
    inputs: [{ name: 'window', type: 'float32', shape: ['N', 32] }],
    outputs: [
      { name: 'score', type: 'float32', shape: ['N'] },
      { name: 'reconstruction', type: 'float32', shape: ['N', 32] },
    ],
    preprocessing: { window: 32, normalise: { mean: 0, std: 1 } },
    postprocessing: { score: 'score', threshold: 0.42, labels: [] },
    training: { seed: 1, samples: 10, precision: 0.9, recall: 0.8 },
  };
}

function problemsOf(json: unknown): ManifestInvalidError {
  try {
    parseManifest(json, 'dir/manifest.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestInvalidError);
    return err as ManifestInvalidError;
  }
  throw new Error('expected the manifest to be rejected');
}

describe('parseManifest', () => {
  it('accepts a valid manifest and deep-freezes it', () => {
    const m = parseManifest(validJson(), 'm.json');
    expect(m.postprocessing.threshold).toBe(0.42);
    expect(Object.isFrozen(m)).toBe(true);
    expect(Object.isFrozen(m.inputs[0]?.shape)).toBe(true);
    expect(Object.isFrozen(m.preprocessing.normalise)).toBe(true);
  });

  it('lower-cases the digest and makes training optional and labels default to none', () => {
    const json = validJson();
    json.sha256 = 'AB'.repeat(32);
    delete json.training;
    json.postprocessing = { score: 'score', threshold: 1 };
    const m = parseManifest(json, 'm.json');
    expect(m.sha256).toBe('ab'.repeat(32));
    expect(m.training).toBeUndefined();
    expect(m.postprocessing.labels).toEqual([]);
  });

  it('accepts a classifier with labels and a label output', () => {
    const json = validJson();
    json.outputs = [{ name: 'probs', type: 'float32', shape: ['N', 3] }];
    json.postprocessing = { labels: ['ok', 'warn', 'fault'], labelOutput: 'probs' };
    expect(parseManifest(json, 'm.json').postprocessing.labelOutput).toBe('probs');
  });

  const cases: [
    string,
    (j: Record<string, unknown>) => void,
    { path: string; found: string; expected: RegExp },
  ][] = [
    [
      'a threshold given as a string',
      (j) => Object.assign(j.postprocessing as object, { threshold: '0.42' }),
      { path: 'postprocessing.threshold', found: '"0.42"', expected: /a number/ },
    ],
    [
      'a dimension of 0',
      (j) => Object.assign((j.inputs as object[])[0] as object, { shape: ['N', 0] }),
      { path: 'inputs[0].shape[1]', found: '0', expected: /a size ≥ 1 or a symbol/ },
    ],
    [
      'a misspelt field',
      (j) => Object.assign(j.postprocessing as object, { treshold: 1 }),
      { path: 'postprocessing.treshold', found: 'unknown field "treshold"', expected: /check the spelling/ },
    ],
    [
      'a digest that is not hex',
      (j) => Object.assign(j, { sha256: 'abc' }),
      { path: 'sha256', found: '"abc"', expected: /64 hex digits/ },
    ],
    [
      'a file outside the folder',
      (j) => Object.assign(j, { file: '../other.onnx' }),
      { path: 'file', found: '"../other.onnx"', expected: /without "\.\."/ },
    ],
    [
      'an id with spaces',
      (j) => Object.assign(j, { id: 'Vibration AE' }),
      { path: 'id', found: '"Vibration AE"', expected: /lower-case/ },
    ],
    [
      'an unknown element type',
      (j) => Object.assign((j.outputs as object[])[0] as object, { type: 'float' }),
      { path: 'outputs[0].type', found: '"float"', expected: /an ONNX element type name such as float32/ },
    ],
    ['missing inputs', (j) => delete j.inputs, { path: 'inputs', found: 'nothing', expected: /a list/ }],
    [
      'a zero std',
      (j) => Object.assign(j.preprocessing as object, { normalise: { mean: 0, std: 0 } }),
      { path: 'preprocessing.normalise.std', found: '0', expected: /standard deviation > 0/ },
    ],
    [
      'a score that names no output',
      (j) => Object.assign(j.postprocessing as object, { score: 'anomaly' }),
      {
        path: 'postprocessing.score',
        found: '"anomaly"',
        expected: /the name of an output \("score", "reconstruction"\)/,
      },
    ],
    [
      'a window that disagrees with the input shape',
      (j) => Object.assign(j.preprocessing as object, { window: 16 }),
      { path: 'preprocessing.window', found: '16', expected: /32, the values one row of input "window"/ },
    ],
    [
      'labels without a label output',
      (j) => Object.assign(j.postprocessing as object, { labels: ['a'] }),
      {
        path: 'postprocessing.labelOutput',
        found: 'nothing',
        expected: /the output holding the class scores/,
      },
    ],
    [
      'a threshold without a score',
      (j) => Object.assign(j, { postprocessing: { threshold: 1, labels: [] } }),
      { path: 'postprocessing.score', found: 'nothing', expected: /together/ },
    ],
    [
      'two outputs with one name',
      (j) => Object.assign((j.outputs as object[])[1] as object, { name: 'score' }),
      { path: 'outputs[1].name', found: '"score"', expected: /not used by another entry/ },
    ],
  ];

  it.each(cases)(
    'rejects %s, naming the file, the field, what was found and what was expected',
    (_, breakIt, want) => {
      const json = validJson();
      breakIt(json);
      const err = problemsOf(json);
      expect(err.code).toBe('MANIFEST_INVALID');
      expect(err.message).toMatch(/^dir\/manifest\.json: /);
      const problem = err.problems.find((p) => p.path === want.path);
      expect(problem, `problems: ${JSON.stringify(err.problems)}`).toBeDefined();
      expect(problem?.found).toBe(want.found);
      expect(problem?.expected).toMatch(want.expected);
      expect(err.message).toContain(`${want.path}: found ${want.found}; expected`);
    },
  );

  it('reports every problem at once', () => {
    const json = validJson();
    json.version = 'one';
    json.sha256 = 42;
    (json.preprocessing as Record<string, unknown>).window = -3;
    const err = problemsOf(json);
    expect(err.problems.map((p) => p.path).sort()).toEqual(['preprocessing.window', 'sha256', 'version']);
    expect(err.message).toMatch(/3 problems/);
  });

  it('rejects a document that is not an object', () => {
    expect(problemsOf([1, 2]).problems[0]).toMatchObject({ path: '', found: 'a list of 2' });
  });
});

describe('loadModelFile', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fieldmesh-manifest-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A copy of an example model in its own folder, for tests that damage it. */
  async function copyExample(name: string): Promise<string> {
    const target = path.join(dir, name);
    await rm(target, { recursive: true, force: true });
    await mkdir(target, { recursive: true });
    await copyFile(path.join(EXAMPLES, 'vibration-ae/manifest.json'), path.join(target, 'manifest.json'));
    await copyFile(path.join(EXAMPLES, 'vibration-ae/model.onnx'), path.join(target, 'model.onnx'));
    return path.join(target, 'manifest.json');
  }

  it.each(['vibration-ae', 'temperature-ae'])(
    'loads the example %s with its bytes and digest',
    async (id) => {
      const manifestPath = path.join(EXAMPLES, id, 'manifest.json');
      const loaded = await loadModelFile(manifestPath);
      const bytes = await readFile(path.join(EXAMPLES, id, 'model.onnx'));
      expect(loaded.manifest.id).toBe(id);
      expect(loaded.path).toBe(path.join(EXAMPLES, id, 'model.onnx'));
      expect(Buffer.from(loaded.bytes).equals(bytes)).toBe(true);
      expect(loaded.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(loaded.sha256).toBe(loaded.manifest.sha256);
    },
  );

  it('refuses a tampered model, naming the file, both digests and what to do', async () => {
    const manifestPath = await copyExample('tampered');
    const modelPath = path.join(path.dirname(manifestPath), 'model.onnx');
    const bytes = await readFile(modelPath);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    await writeFile(modelPath, bytes);
    const expected = JSON.parse(await readFile(manifestPath, 'utf8')).sha256 as string;
    const actual = createHash('sha256').update(bytes).digest('hex');

    const err = await loadModelFile(manifestPath).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelDigestMismatchError);
    const mismatch = err as ModelDigestMismatchError;
    expect(mismatch.code).toBe('MODEL_DIGEST_MISMATCH');
    expect(mismatch.expected).toBe(expected);
    expect(mismatch.actual).toBe(actual);
    expect(mismatch.message).toContain(modelPath);
    expect(mismatch.message).toContain(`expects sha256 ${expected}`);
    expect(mismatch.message).toContain(`has sha256 ${actual}`);
    expect(mismatch.message).toMatch(/re-generate the manifest/);
    expect(mismatch.message).toMatch(/restore the original model file/);
  });

  it('names a missing model file', async () => {
    const manifestPath = await copyExample('missing');
    await rm(path.join(path.dirname(manifestPath), 'model.onnx'));
    const err = await loadModelFile(manifestPath).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFileMissingError);
    expect((err as ModelFileMissingError).code).toBe('MODEL_FILE_MISSING');
    expect((err as Error).message).toContain(path.join(path.dirname(manifestPath), 'model.onnx'));
    expect((err as Error).message).toContain(manifestPath);
  });

  it('names a missing manifest and one that is not JSON', async () => {
    const absent = path.join(dir, 'nowhere', 'manifest.json');
    await expect(loadModelFile(absent)).rejects.toThrow(ManifestUnreadableError);
    await expect(loadModelFile(absent)).rejects.toThrow(/nowhere\/manifest\.json: no such manifest file/);
    const broken = path.join(dir, 'broken.json');
    await writeFile(broken, '{ "id": ');
    const err = await loadModelFile(broken).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestInvalidError);
    expect((err as Error).message).toMatch(/broken\.json: 1 problem.*\n.*found invalid JSON/);
  });

  it('rejects an invalid manifest before reading the model', async () => {
    const manifestPath = await copyExample('invalid');
    const json = JSON.parse(await readFile(manifestPath, 'utf8'));
    json.postprocessing.threshold = 'high';
    await writeFile(manifestPath, JSON.stringify(json));
    await rm(path.join(path.dirname(manifestPath), 'model.onnx'));
    const err = await loadModelFile(manifestPath).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManifestInvalidError);
    expect((err as Error).message).toContain(`${manifestPath}: 1 problem`);
    expect((err as Error).message).toContain('postprocessing.threshold: found "high"; expected a number');
  });
});

/**
 * Model manifests: the JSON beside each .onnx saying what the model takes and gives, how to
 * prepare its input and read its output, and the sha256 of the exact bytes it was made for.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { deepFreeze, problemFromIssue } from '../protocol/field-problems.js';
import {
  ManifestInvalidError,
  type ManifestProblem,
  ManifestUnreadableError,
  ModelDigestMismatchError,
  ModelFileMissingError,
} from './errors.js';
import { FEATURE_NAMES } from './features.js';
import { ELEMENT_TYPE_NAMES } from './onnx/types.js';
import { checkManifestSignature, type PublisherCheck } from './publisher.js';

const DIM_EXPECTED = 'a size ≥ 1 or a symbol for a size chosen at run time, such as "N"';
const dimSchema = z.union(
  [
    z.number().int(DIM_EXPECTED).min(1, DIM_EXPECTED),
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, DIM_EXPECTED),
  ],
  { error: DIM_EXPECTED },
);

const tensorSchema = z.strictObject({
  name: z.string().min(1, 'a non-empty tensor name'),
  type: z.enum(ELEMENT_TYPE_NAMES, 'an ONNX element type name such as float32, float16 or int64'),
  shape: z.array(dimSchema),
});

const FILL_EXPECTED = '"window", "zeros" or {"constant": a number or an array of numbers}';
/** How the agent fills an input (models/tensor-plan.ts): the window, zeros, or fixed values. */
const fillSchema = z.union(
  [
    z.literal('window'),
    z.literal('zeros'),
    z.strictObject({ constant: z.union([z.number(), z.array(z.number()).min(1)]) }),
  ],
  { error: FILL_EXPECTED },
);

const inputSchema = tensorSchema.extend({ fill: fillSchema.optional() });

const relativeFile = z
  .string()
  .min(1)
  .refine((f) => !path.isAbsolute(f) && !f.includes('\\') && !f.split('/').includes('..'), {
    error: 'a file name relative to the manifest\'s folder, without ".."',
  });

const manifestSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'an id of lower-case letters, digits, ".", "-" or "_"'),
    version: z
      .string()
      .regex(/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/, 'a semantic version such as "1.0.0"'),
    description: z.string(),
    file: relativeFile,
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'the 64 hex digits of the sha256 of the .onnx file')
      .transform((s) => s.toLowerCase()),
    inputs: z.array(inputSchema).min(1, 'at least one input'),
    outputs: z.array(tensorSchema).min(1, 'at least one output'),
    preprocessing: z.strictObject({
      window: z.number().int().min(1, 'a window of at least 1 reading'),
      /** Summary statistics the window input takes instead of the readings (models/features.ts). */
      features: z
        .array(z.enum(FEATURE_NAMES, `a feature name (${FEATURE_NAMES.join(', ')})`))
        .min(1, 'at least one feature, or leave "features" out')
        .optional(),
      normalise: z.strictObject({
        mean: z.number(),
        std: z.number().positive('a standard deviation > 0'),
      }),
    }),
    postprocessing: z.strictObject({
      /** Output holding one anomaly score per window, compared with `threshold`. */
      score: z.string().min(1).optional(),
      threshold: z.number().optional(),
      /** Class names, in the order of `labelOutput`'s last dimension. */
      labels: z.array(z.string().min(1)).default([]),
      labelOutput: z.string().min(1).optional(),
    }),
    publisher: z
      .strictObject({
        id: z
          .string()
          .regex(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44,48}$/, "the publisher key's PeerId (12D3KooW…)"),
        name: z.string().min(1).max(100).optional(),
        signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'the base64 of a 64-byte Ed25519 signature'),
      })
      .optional(),
    training: z
      .strictObject({
        seed: z.number().int(),
        samples: z.number().int().min(0),
        precision: z.number().min(0).max(1),
        recall: z.number().min(0).max(1),
        thresholdRule: z.string().optional(),
        evaluatedFaults: z.array(z.string()).optional(),
      })
      .optional(),
  })
  .superRefine((m, ctx) => {
    for (const p of crossFieldProblems(m)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

type ManifestData = z.output<typeof manifestSchema>;

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** A validated, deep-frozen manifest. */
export type ModelManifest = DeepReadonly<ManifestData>;

function crossFieldProblems(m: ManifestData): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const outputNames = m.outputs.map((o) => o.name);
  const outputList = outputNames.map((n) => `"${n}"`).join(', ');
  for (const [list, key] of [
    [m.inputs, 'inputs'],
    [m.outputs, 'outputs'],
  ] as const) {
    list.forEach((t, i) => {
      if (list.findIndex((u) => u.name === t.name) !== i)
        problems.push({ path: [key, i, 'name'], message: 'a name not used by another entry' });
    });
  }
  const post = m.postprocessing;
  if (post.score !== undefined && !outputNames.includes(post.score)) {
    problems.push({ path: ['postprocessing', 'score'], message: `the name of an output (${outputList})` });
  }
  if (post.labelOutput !== undefined && !outputNames.includes(post.labelOutput)) {
    problems.push({
      path: ['postprocessing', 'labelOutput'],
      message: `the name of an output (${outputList})`,
    });
  }
  if ((post.score === undefined) !== (post.threshold === undefined)) {
    const missing = post.score === undefined ? 'score' : 'threshold';
    problems.push({
      path: ['postprocessing', missing],
      message: '"score" and "threshold" together (an anomaly model) or neither',
    });
  }
  if (post.labels.length > 0 && post.labelOutput === undefined) {
    problems.push({
      path: ['postprocessing', 'labelOutput'],
      message: 'the output holding the class scores, since "labels" is set',
    });
  }
  if (post.score === undefined && post.labelOutput === undefined) {
    problems.push({
      path: ['postprocessing'],
      message: 'a "score" and "threshold", or "labels" and "labelOutput"',
    });
  }
  problems.push(...inputFillProblems(m));
  return problems;
}

/** Exactly one input takes the window; every other says how it is filled, with a type the agent can fill. */
function inputFillProblems(m: ManifestData): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const windowAt = windowInputIndex(m.inputs);
  const marked = m.inputs.filter((i) => i.fill === 'window').length;
  if (marked > 1) {
    problems.push({ path: ['inputs'], message: 'one input with "fill": "window", not several' });
  }
  m.inputs.forEach((input, i) => {
    if (!(FILLABLE_TYPES as readonly string[]).includes(input.type)) {
      problems.push({
        path: ['inputs', i, 'type'],
        message: `a type the agent can fill (${FILLABLE_TYPES.join(', ')})`,
      });
    }
    if (i !== windowAt && input.fill === undefined) {
      problems.push({
        path: ['inputs', i, 'fill'],
        message: `how to fill input "${input.name}", since input "${m.inputs[windowAt]?.name}" takes the window: ${FILL_EXPECTED}`,
      });
    }
  });
  const window = m.inputs[windowAt];
  const last = window?.shape.at(-1);
  const fixed = window?.shape.filter((d) => typeof d === 'number') as number[] | undefined;
  const open = (window?.shape.length ?? 0) - (fixed?.length ?? 0);
  const product = fixed?.reduce((a, b) => a * b, 1);
  const features = m.preprocessing.features;
  const perRow = features?.length ?? m.preprocessing.window;
  if (open <= 1 && typeof last === 'number' && product !== perRow) {
    problems.push(
      features === undefined
        ? {
            path: ['preprocessing', 'window'],
            message: `${product}, the values one row of input "${window?.name}" [${window?.shape.join(', ')}] holds`,
          }
        : {
            path: ['preprocessing', 'features'],
            message: `${product} features, the values one row of input "${window?.name}" [${window?.shape.join(', ')}] holds`,
          },
    );
  }
  return problems;
}

/** Element types an input may have: the ones windows and constants can be written in. */
export const FILLABLE_TYPES = ['float32', 'float16', 'float64', 'int32', 'int64'] as const;
export type FillableType = (typeof FILLABLE_TYPES)[number];

/** Index of the input that takes the window: the one marked `fill: "window"`, else the first unmarked. */
export function windowInputIndex(inputs: readonly { readonly fill?: unknown }[]): number {
  const marked = inputs.findIndex((i) => i.fill === 'window');
  if (marked >= 0) return marked;
  const unmarked = inputs.findIndex((i) => i.fill === undefined);
  return Math.max(unmarked, 0);
}

/** Validates parsed JSON; `source` (usually the file path) prefixes every problem. */
export function parseManifest(json: unknown, source: string): ModelManifest {
  const result = manifestSchema.safeParse(json);
  if (!result.success)
    throw new ManifestInvalidError(
      source,
      result.error.issues.map((i) => toProblem(i, json)),
    );
  return deepFreezeManifest(result.data);
}

export interface LoadedModel {
  readonly manifest: ModelManifest;
  readonly manifestPath: string;
  /** Absolute path of the .onnx. */
  readonly path: string;
  readonly bytes: Uint8Array;
  /** Lower-case hex sha256 of `bytes`, equal to `manifest.sha256`. */
  readonly sha256: string;
  /** Who signed the manifest (checked), or unsigned. */
  readonly publisher: PublisherCheck;
}

/**
 * Reads a manifest and the .onnx beside it, and refuses bytes other than the ones the manifest
 * names: receipts carry the digest, so running other bytes would misreport the work.
 */
/** Reads and checks a manifest alone: its model, and where its .onnx file should be. */
export async function readManifest(
  manifestPath: string,
): Promise<{ manifest: ModelManifest; modelPath: string; publisher: PublisherCheck }> {
  const { manifest, publisher } = await readSignedManifest(manifestPath);
  return {
    manifest,
    modelPath: path.resolve(path.dirname(path.resolve(manifestPath)), manifest.file),
    publisher,
  };
}

/**
 * Parses a manifest, then checks its publisher signature (a bad one throws
 * ManifestSignatureError). `ignoreSignature` treats it as unsigned: for re-signing only.
 */
async function readSignedManifest(
  manifestPath: string,
  ignoreSignature = false,
): Promise<{ manifest: ModelManifest; publisher: PublisherCheck }> {
  const raw = await readManifestJson(manifestPath);
  const manifest = parseManifest(raw, manifestPath);
  if (ignoreSignature) return { manifest, publisher: { state: 'unsigned' } };
  return { manifest, publisher: checkManifestSignature(raw as Record<string, unknown>, manifestPath) };
}

export async function loadModelFile(
  manifestPath: string,
  options: { ignoreSignature?: boolean } = {},
): Promise<LoadedModel> {
  const { manifest, publisher } = await readSignedManifest(manifestPath, options.ignoreSignature);
  const modelPath = path.resolve(path.dirname(path.resolve(manifestPath)), manifest.file);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(modelPath));
  } catch (err) {
    throw new ModelFileMissingError(modelPath, manifestPath, err);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== manifest.sha256)
    throw new ModelDigestMismatchError(modelPath, manifestPath, manifest.sha256, sha256);
  return { manifest, manifestPath, path: modelPath, bytes, sha256, publisher };
}

async function readManifestJson(manifestPath: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such manifest file; check the model\'s "manifest" path'
        : `cannot read the manifest (${code})`;
    throw new ManifestUnreadableError(manifestPath, why, err);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const found = `invalid JSON (${(err as Error).message})`;
    throw new ManifestInvalidError(manifestPath, [{ path: '', found, expected: 'a JSON object' }]);
  }
}

const WORDING = { knownFields: 'only the fields of the manifest format', objectWord: 'an object' };

function toProblem(issue: z.core.$ZodIssue, json: unknown): ManifestProblem {
  return problemFromIssue(issue, json, WORDING);
}

function deepFreezeManifest<T>(value: T): DeepReadonly<T> {
  return deepFreeze(value) as DeepReadonly<T>;
}

import { float32FromHalf } from '../../models/float16.js';
import { FieldmeshError } from '../../protocol/errors.js';

/**
 * From raw model outputs to what a result says: an anomaly score compared with a threshold,
 * and/or a class label with its confidence. Pure; one call per window (one batch row).
 */

/** One output tensor as onnxruntime returns it (structurally the same as ModelRuntime's). */
export interface OutputTensor {
  readonly data: ArrayLike<number> | BigInt64Array | BigUint64Array;
  readonly dims: readonly number[];
  /** onnxruntime's element type name; 'float16' data are bit patterns (Uint16Array). */
  readonly type?: string;
}

export type ModelOutputs = Readonly<Record<string, OutputTensor>>;

export interface PostprocessSpec {
  /** Output holding the anomaly score: one value per row. */
  readonly score?: string;
  /** anomaly = score > threshold. Needs `score`. */
  readonly threshold?: number;
  /** Class names, index = class id. Needs `labelOutput`. */
  readonly labels?: readonly string[];
  /** Output holding class probabilities or logits per row, or one class index per row. */
  readonly labelOutput?: string;
}

export interface Postprocessed {
  score?: number;
  /** score > threshold (NaN never is). Present when the spec has a threshold. */
  anomaly?: boolean;
  /** Present when the spec has labels. */
  label?: string;
  /** The class id (argmax, or the index the model output). Present when the spec has labelOutput. */
  labelIndex?: number;
  /** Probability of the label: the row's value when the row sums to 1, else its softmax. */
  confidence?: number;
}

export class OutputMissingError extends FieldmeshError {
  constructor(role: string, name: string, available: readonly string[]) {
    const list =
      available.length === 0 ? 'the model returned no outputs' : `available: ${available.join(', ')}`;
    super(
      'POSTPROCESS_OUTPUT_MISSING',
      `postprocess: the ${role} output "${name}" is not among the model's outputs (${list}); ` +
        'fix the output name in the model manifest or the pipeline',
    );
  }
}

export class OutputShapeError extends FieldmeshError {
  constructor(name: string, problem: string) {
    super('POSTPROCESS_OUTPUT_SHAPE', `postprocess: output "${name}" ${problem}`);
  }
}

export class RowOutOfRangeError extends FieldmeshError {
  constructor(name: string, row: number, rows: number) {
    super(
      'POSTPROCESS_ROW_OUT_OF_RANGE',
      `postprocess: row ${row} asked of output "${name}", which has ${rows} row(s)`,
    );
  }
}

export class PostprocessSpecError extends FieldmeshError {
  constructor(problem: string) {
    super('POSTPROCESS_SPEC_INVALID', `postprocess spec: ${problem}`);
  }
}

/** Throws PostprocessSpecError when `spec` cannot work; cheap enough to run per call. */
export function checkPostprocessSpec(spec: PostprocessSpec): void {
  if (spec.threshold !== undefined) {
    if (spec.score === undefined)
      throw new PostprocessSpecError('threshold is set but score (the output it applies to) is not');
    if (Number.isNaN(spec.threshold))
      throw new PostprocessSpecError('threshold is NaN; no score would ever exceed it');
  }
  if (spec.labels !== undefined && spec.labelOutput === undefined) {
    throw new PostprocessSpecError('labels are set but labelOutput (the output they name) is not');
  }
}

const checkedSpecs = new WeakSet<PostprocessSpec>();

/** Postprocesses the only window of a batch of one (row 0). */
export function postprocess(outputs: ModelOutputs, spec: PostprocessSpec): Postprocessed {
  return postprocessRow(outputs, spec, 0);
}

/** Postprocesses batch row `row` of the outputs. */
export function postprocessRow(outputs: ModelOutputs, spec: PostprocessSpec, row: number): Postprocessed {
  if (!checkedSpecs.has(spec)) {
    checkPostprocessSpec(spec);
    checkedSpecs.add(spec); // a pipeline passes the same spec object for every window
  }
  const result: Postprocessed = {};
  if (spec.score !== undefined) {
    const slice = rowSlice(outputs, spec.score, 'score', row, false);
    if (slice.width !== 1) {
      throw new OutputShapeError(
        spec.score,
        `has ${slice.width} values per row; an anomaly score is one value per row`,
      );
    }
    const score = valueAt(slice.data, slice.offset);
    result.score = score;
    if (spec.threshold !== undefined) result.anomaly = score > spec.threshold;
  }
  if (spec.labelOutput !== undefined) {
    const slice = rowSlice(outputs, spec.labelOutput, 'label', row, true);
    const { index, confidence } = slice.width === 1 ? classIndex(slice, spec) : argmaxWithConfidence(slice);
    if (spec.labels !== undefined) {
      if (slice.width > 1 && spec.labels.length !== slice.width) {
        throw new OutputShapeError(
          spec.labelOutput,
          `has ${slice.width} classes but ${spec.labels.length} labels are configured; give one label per class`,
        );
      }
      result.label = spec.labels[index] as string;
    }
    result.labelIndex = index;
    if (confidence !== undefined) result.confidence = confidence;
  }
  return result;
}

interface RowSlice {
  readonly name: string;
  readonly data: OutputTensor['data'];
  readonly offset: number;
  readonly width: number;
}

/**
 * Where row `row` lies in an output. The first axis is the batch when there are two or more;
 * a scalar is one row of one value; a 1-D output is one value per row, except a 1-D float label
 * output, which is the class scores of a single unbatched row.
 */
function rowSlice(
  outputs: ModelOutputs,
  name: string,
  role: string,
  row: number,
  isLabel: boolean,
): RowSlice {
  const tensor = Object.hasOwn(outputs, name) ? outputs[name] : undefined;
  if (tensor === undefined) throw new OutputMissingError(role, name, Object.keys(outputs));
  const { dims } = tensor;
  const data = numericData(tensor);
  let total = 1;
  for (const d of dims) total *= d;
  if (total !== data.length) {
    throw new OutputShapeError(
      name,
      `has dims [${dims.join(', ')}] (${total} values) but holds ${data.length} values`,
    );
  }
  const bigint = data instanceof BigInt64Array || data instanceof BigUint64Array;
  const unbatched = dims.length === 0 || (dims.length === 1 && isLabel && !bigint);
  const rows = unbatched ? 1 : (dims[0] as number);
  const width = rows === 0 ? 0 : total / rows;
  if (!Number.isSafeInteger(row) || row < 0 || row >= rows) throw new RowOutOfRangeError(name, row, rows);
  if (width === 0) throw new OutputShapeError(name, `has dims [${dims.join(', ')}], so its rows are empty`);
  return { name, data, offset: row * width, width };
}

/** An output's values as numbers (or bigints): float16 bit patterns decoded, others as they are. */
export function numericData(tensor: OutputTensor): OutputTensor['data'] {
  if (tensor.type !== 'float16') return tensor.data;
  let decoded = decodedHalves.get(tensor); // decoded once per call, not once per row
  if (decoded === undefined) {
    decoded = float32FromHalf(tensor.data as Uint16Array);
    decodedHalves.set(tensor, decoded);
  }
  return decoded;
}

const decodedHalves = new WeakMap<OutputTensor, Float32Array>();

function valueAt(data: OutputTensor['data'], i: number): number {
  return Number(data[i]);
}

/** A label output of one value per row holds the class index itself (e.g. an int64 `label`). */
function classIndex(slice: RowSlice, spec: PostprocessSpec): { index: number; confidence: undefined } {
  const index = valueAt(slice.data, slice.offset);
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new OutputShapeError(
      slice.name,
      `holds one value per row (${index}), which is not a class index; ` +
        'for a single-output binary classifier use score and threshold instead',
    );
  }
  if (spec.labels !== undefined && index >= spec.labels.length) {
    throw new OutputShapeError(
      slice.name,
      `gave class index ${index} but only ${spec.labels.length} labels are configured`,
    );
  }
  return { index, confidence: undefined };
}

/** Tolerance on a row's sum for it to count as probabilities (float32 softmax rounding). */
const SUM_TOLERANCE = 1e-3;

/**
 * Argmax over the row (the first of equal maxima; NaN never wins; a row without any number
 * gives index 0 and confidence NaN). Confidence: the value itself when the row is a probability
 * distribution (all in [0, 1], summing to 1), else the softmax probability of the winner.
 */
function argmaxWithConfidence(slice: RowSlice): { index: number; confidence: number } {
  const { data, offset, width } = slice;
  let best = Number.NEGATIVE_INFINITY;
  let index = -1;
  let sum = 0;
  let probabilities = true;
  for (let i = 0; i < width; i++) {
    const v = valueAt(data, offset + i);
    if (v > best) {
      best = v;
      index = i;
    }
    sum += v;
    if (!(v >= 0 && v <= 1)) probabilities = false;
  }
  if (index === -1) return { index: 0, confidence: Number.NaN };
  if (probabilities && Math.abs(sum - 1) <= SUM_TOLERANCE) return { index, confidence: best };
  let denominator = 0;
  for (let i = 0; i < width; i++) denominator += Math.exp(valueAt(data, offset + i) - best);
  return { index, confidence: 1 / denominator };
}

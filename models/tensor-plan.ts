/**
 * From windows to the tensors a model is fed (docs/model-inputs.md). The agent, offload
 * providers and the settlement service's spot checks all build inputs here, so a re-run on
 * revealed bytes feeds exactly what the agent fed.
 *
 * A call runs `rows` windows of `width` normalised readings, laid end to end as float32: the
 * window tensor, which receipts and offload requests carry. The window input gets them in its
 * own element type and shape; every other input is zeros or the manifest's constant, repeated
 * for each row when its first dimension is the batch.
 */
import { FieldmeshError } from '../protocol/errors.js';
import { type FeatureName, writeFeatures } from './features.js';
import { halfFromFloat32 } from './float16.js';
import { type Dim, hasBatchDim, inputDims, windowWidthOf } from './input-layout.js';
import { type FillableType, type ModelManifest, windowInputIndex } from './manifest.js';

/** One tensor handed to onnxruntime. */
export interface Feed {
  readonly name: string;
  readonly type: FillableType;
  readonly data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array;
  readonly dims: number[];
}

interface FixedInput {
  readonly name: string;
  readonly type: FillableType;
  readonly shape: readonly Dim[];
  /** Values of one row (or of the whole tensor when it has no batch dimension). */
  readonly row: Float32Array;
  /** Whether the first dimension is the batch: the row repeats once per window. */
  readonly batched: boolean;
}

/** A manifest's inputs cannot take windows; names the model and the shapes. */
export class TensorPlanError extends FieldmeshError {
  constructor(modelId: string, why: string) {
    super('MODEL_SHAPE_UNSUPPORTED', `model "${modelId}": ${why}`);
  }
}

export class TensorPlan {
  /** The input that takes the windows. */
  readonly window: { readonly name: string; readonly type: FillableType; readonly shape: readonly Dim[] };
  /** Readings in one window. */
  readonly width: number;
  /** Values one window gives the window input: `width`, or one per feature. */
  readonly rowValues: number;
  /** Summary statistics fed instead of the readings (`preprocessing.features`), if any. */
  readonly features: readonly FeatureName[] | undefined;
  /** Whether the window input's first dimension is open, so one call can take several windows. */
  readonly batchable: boolean;
  /** The outputs asked of the model: the manifest's, in its order (others are never computed). */
  readonly fetches: readonly string[];
  private readonly fixed: readonly FixedInput[];

  constructor(
    readonly modelId: string,
    manifest: ModelManifest,
  ) {
    const at = windowInputIndex(manifest.inputs);
    const input = manifest.inputs[at];
    if (input === undefined) throw new TensorPlanError(modelId, 'the manifest declares no input');
    this.window = { name: input.name, type: input.type as FillableType, shape: input.shape };
    this.features = manifest.preprocessing.features;
    const layout = windowWidthOf(input.shape, this.features?.length ?? manifest.preprocessing.window);
    if ('problem' in layout) throw new TensorPlanError(modelId, `input "${input.name}": ${layout.problem}`);
    this.rowValues = layout.width;
    this.width = this.features === undefined ? layout.width : manifest.preprocessing.window;
    this.batchable = hasBatchDim(input.shape);
    const open = input.shape.filter((d, i) => typeof d !== 'number' && !(i === 0 && this.batchable));
    if (open.length > 1) {
      throw new TensorPlanError(
        modelId,
        `input "${input.name}" has shape ${shapeText(input.shape)}: besides the batch, only one dimension may be ` +
          'left open (it takes the window). Give the other sizes in the manifest, e.g. ["N", 1, "T"] for one channel',
      );
    }
    this.fetches = manifest.outputs.map((o) => o.name);
    this.fixed = manifest.inputs
      .filter((_, i) => i !== at)
      .map((i) => fixedInput(modelId, i, this.batchable));
  }

  /** The window input's dims for `rows` windows. */
  dims(rows: number): number[] {
    return inputDims(this.window.shape, rows, this.rowValues);
  }

  /** The window input's shape as the manifest declares it, e.g. `["N", 32]`, for messages. */
  get declaredShape(): string {
    return shapeText(this.window.shape);
  }

  /** Every input for `rows` windows laid end to end in `windows` (rows × width float32). */
  feeds(windows: Float32Array, rows: number): Feed[] {
    if (windows.length !== rows * this.width) {
      throw new TensorPlanError(
        this.modelId,
        `${rows} window(s) of ${this.width} readings are ${rows * this.width} values, but ${windows.length} were given`,
      );
    }
    const values = this.features === undefined ? windows : this.featuresOf(windows, rows, this.features);
    const out: Feed[] = [
      {
        name: this.window.name,
        type: this.window.type,
        data: cast(values, this.window.type),
        dims: this.dims(rows),
      },
    ];
    for (const f of this.fixed) {
      const dims = f.shape.map((d, i) => (i === 0 && f.batched ? rows : (d as number)));
      const values = f.batched && rows !== 1 ? repeat(f.row, rows) : f.row;
      out.push({ name: f.name, type: f.type, data: cast(values, f.type), dims });
    }
    return out;
  }

  /** One row of features per window, computed on the normalised readings. */
  private featuresOf(windows: Float32Array, rows: number, names: readonly FeatureName[]): Float32Array {
    const out = new Float32Array(rows * names.length);
    for (let r = 0; r < rows; r++) {
      writeFeatures(windows.subarray(r * this.width, (r + 1) * this.width), names, out, r * names.length);
    }
    return out;
  }
}

type DeclaredInput = ModelManifest['inputs'][number];

/** An input filled with zeros or a constant: every dimension fixed, except a leading batch. */
function fixedInput(modelId: string, input: DeclaredInput, windowBatched: boolean): FixedInput {
  const batched = windowBatched && hasBatchDim(input.shape);
  const rest = batched ? input.shape.slice(1) : input.shape;
  if (rest.some((d) => typeof d !== 'number')) {
    throw new TensorPlanError(
      modelId,
      `input "${input.name}" has shape ${shapeText(input.shape)}; an input filled with ` +
        `${JSON.stringify(input.fill)} needs fixed sizes (only its first dimension may be the batch). ` +
        'Give the sizes in the manifest',
    );
  }
  const size = (rest as number[]).reduce((a, b) => a * b, 1);
  const fill = input.fill;
  const row = new Float32Array(size);
  if (typeof fill === 'object') {
    const values = typeof fill.constant === 'number' ? [fill.constant] : fill.constant;
    if (values.length === 1) row.fill(values[0] as number);
    else if (values.length === size) row.set(values);
    else {
      throw new TensorPlanError(
        modelId,
        `input "${input.name}" ${shapeText(input.shape)} takes ${size} value(s) per ${batched ? 'row' : 'call'}, ` +
          `but its constant has ${values.length}; give one value or ${size}`,
      );
    }
  }
  return { name: input.name, type: input.type as FillableType, shape: input.shape, row, batched };
}

function repeat(row: Float32Array, times: number): Float32Array {
  const out = new Float32Array(row.length * times);
  for (let i = 0; i < times; i++) out.set(row, i * row.length);
  return out;
}

/**
 * float32 values in an input's element type: float16 to the nearest (half to even), integers
 * rounded to the nearest (half away from zero).
 */
function cast(values: Float32Array, type: FillableType): Feed['data'] {
  switch (type) {
    case 'float32':
      return values;
    case 'float16':
      return halfFromFloat32(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int32':
      return Int32Array.from(values, roundHalfAway);
    case 'int64':
      return BigInt64Array.from(values, (v) => BigInt(roundHalfAway(v)));
  }
}

function roundHalfAway(v: number): number {
  if (!Number.isFinite(v)) return 0;
  return Math.sign(v) * Math.round(Math.abs(v));
}

export function shapeText(shape: readonly (Dim | null)[]): string {
  return `[${shape.map((d) => (typeof d === 'string' ? `"${d}"` : d === null ? '?' : String(d))).join(', ')}]`;
}

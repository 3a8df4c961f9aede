import { type ElementType, elementSize, type OffloadOutput } from '../../protocol/offload.js';
import { outputOrder, tensorBytes } from '../../protocol/tensors.js';
import type { ModelOutputs } from '../infer/model-runtime.js';

/** Between onnxruntime tensors and the offload wire (protocol/offload.ts): little-endian bytes. */

export type TypedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** One output as the consumer gets it: structurally a ModelOutputs entry, plus its type. */
export interface OffloadTensor {
  readonly data: TypedData;
  readonly dims: readonly number[];
  readonly type: ElementType;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const CONSTRUCTORS: Readonly<Record<ElementType, new (buffer: ArrayBuffer) => TypedData>> = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
  float16: Uint16Array, // bit patterns, as onnxruntime gives them
};

function typeOf(tensor: { readonly data: unknown; readonly type?: unknown }): ElementType {
  if (typeof tensor.type === 'string' && tensor.type in CONSTRUCTORS) return tensor.type as ElementType;
  const data = tensor.data;
  for (const [type, ctor] of Object.entries(CONSTRUCTORS)) {
    if (data instanceof ctor) return type as ElementType;
  }
  throw new TypeError(`output of type ${Object.prototype.toString.call(data)} has no offload element type`);
}

/** Every output of a model call, in the protocol's output order; throws TypeError for strings. */
export function outputsToWire(outputs: ModelOutputs): OffloadOutput[] {
  return outputOrder(Object.keys(outputs)).map((name) => {
    const t = outputs[name] as ModelOutputs[string] & { type?: unknown };
    return {
      name,
      dims: [...t.dims],
      type: typeOf(t),
      bytes: tensorBytes(t.data as unknown as ArrayBufferView),
    };
  });
}

/** Typed arrays (each on its own aligned buffer) from wire outputs. */
export function outputsFromWire(outputs: readonly OffloadOutput[]): Record<string, OffloadTensor> {
  const out: Record<string, OffloadTensor> = {};
  for (const o of outputs) {
    out[o.name] = { data: typedFromBytes(o.bytes, o.type), dims: o.dims, type: o.type };
  }
  return out;
}

export function typedFromBytes(bytes: Uint8Array, type: ElementType): TypedData {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const size = elementSize(type);
  if (!LITTLE_ENDIAN && size > 1) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return new CONSTRUCTORS[type](copy.buffer);
}

/** The rows × width float32 input from request bytes (aligned copy). */
export function float32FromBytes(bytes: Uint8Array): Float32Array {
  return typedFromBytes(bytes, 'float32') as Float32Array;
}

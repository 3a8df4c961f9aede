/**
 * ONNX element types by the names fieldmesh uses in manifests and logs, with their
 * TensorProto.DataType numbers from onnx.proto.
 */
export const ELEMENT_TYPES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  complex64: 14,
  complex128: 15,
  bfloat16: 16,
  float8e4m3fn: 17,
  float8e4m3fnuz: 18,
  float8e5m2: 19,
  float8e5m2fnuz: 20,
  uint4: 21,
  int4: 22,
  float4e2m1: 23,
} as const;

export type ElementType = keyof typeof ELEMENT_TYPES;

export const ELEMENT_TYPE_NAMES = Object.keys(ELEMENT_TYPES) as [ElementType, ...ElementType[]];

const BY_NUMBER = new Map<number, ElementType>(
  Object.entries(ELEMENT_TYPES).map(([name, n]) => [n, name as ElementType]),
);

/** The name of a TensorProto.DataType; types newer than this table read as `type<N>`. */
export function elementTypeName(dataType: number): ElementType | `type${number}` {
  return BY_NUMBER.get(dataType) ?? `type${dataType}`;
}

/** One dimension of a declared shape: a size, or a symbol for a size chosen at run time ("N"). */
export type Dim = number | string;

/** A dimension as read from a model, which may say nothing about it. */
export type InspectedDim = number | string | null;

/** Field numbers from onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto). */
export const F = {
  model: {
    irVersion: 1,
    producerName: 2,
    producerVersion: 3,
    domain: 4,
    modelVersion: 5,
    docString: 6,
    graph: 7,
    opsetImport: 8,
  },
  opset: { domain: 1, version: 2 },
  graph: { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12, valueInfo: 13 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5, docString: 6, domain: 7 },
  attribute: { name: 1, f: 2, i: 3, s: 4, t: 5, floats: 7, ints: 8, strings: 9, type: 20 },
  tensor: {
    dims: 1,
    dataType: 2,
    floatData: 4,
    int32Data: 5,
    int64Data: 7,
    name: 8,
    rawData: 9,
    dataLocation: 14,
  },
  valueInfo: { name: 1, type: 2, docString: 3 },
  type: { tensor: 1, sequence: 4, map: 5, opaque: 7, sparseTensor: 8, optional: 9 },
  tensorType: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dim: { value: 1, param: 2 },
} as const;

/** AttributeProto.AttributeType values. */
export const ATTRIBUTE_TYPE = {
  float: 1,
  int: 2,
  string: 3,
  tensor: 4,
  floats: 6,
  ints: 7,
  strings: 8,
} as const;

/**
 * Encoding of graph parts as onnx.proto messages (field numbers in ./types.ts). Fields go out
 * in field-number order, as onnx's own serialiser writes them.
 */
import type { ProtoWriter } from './protobuf-writer.js';
import { ATTRIBUTE_TYPE, type Dim, ELEMENT_TYPES, type ElementType, F } from './types.js';

export type AttributeValue =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] };

export interface NodeRecord {
  readonly opType: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly domain: string;
}

export interface IoRecord {
  readonly name: string;
  readonly type: ElementType;
  readonly shape: readonly Dim[];
}

export interface InitializerRecord {
  readonly name: string;
  readonly type: 'float32' | 'int64';
  readonly dims: readonly number[];
  readonly raw: Uint8Array;
}

export function writeNode(w: ProtoWriter, n: NodeRecord): void {
  for (const i of n.inputs) w.string(F.node.input, i);
  w.string(F.node.output, n.output);
  w.string(F.node.name, n.name);
  w.string(F.node.opType, n.opType);
  for (const [name, value] of Object.entries(n.attributes))
    w.message(F.node.attribute, (a) => writeAttribute(a, name, value));
  if (n.domain !== '') w.string(F.node.domain, n.domain);
}

function writeAttribute(w: ProtoWriter, name: string, value: AttributeValue): void {
  w.string(F.attribute.name, name);
  // proto2 repeated scalars without [packed=true] are written unpacked, as onnx's own serialiser does.
  if ('float' in value) w.float(F.attribute.f, value.float).int64(F.attribute.type, ATTRIBUTE_TYPE.float);
  else if ('int' in value) w.int64(F.attribute.i, value.int).int64(F.attribute.type, ATTRIBUTE_TYPE.int);
  else if ('string' in value)
    w.string(F.attribute.s, value.string).int64(F.attribute.type, ATTRIBUTE_TYPE.string);
  else if ('floats' in value) {
    for (const f of value.floats) w.float(F.attribute.floats, f);
    w.int64(F.attribute.type, ATTRIBUTE_TYPE.floats);
  } else {
    for (const i of value.ints) w.int64(F.attribute.ints, i);
    w.int64(F.attribute.type, ATTRIBUTE_TYPE.ints);
  }
}

export function writeInitializer(w: ProtoWriter, t: InitializerRecord): void {
  for (const d of t.dims) w.int64(F.tensor.dims, d);
  w.int64(F.tensor.dataType, ELEMENT_TYPES[t.type]);
  w.string(F.tensor.name, t.name);
  w.bytes(F.tensor.rawData, t.raw);
}

export function writeValueInfo(w: ProtoWriter, io: IoRecord): void {
  w.string(F.valueInfo.name, io.name);
  w.message(F.valueInfo.type, (type) =>
    type.message(F.type.tensor, (tensor) => {
      tensor.int64(F.tensorType.elemType, ELEMENT_TYPES[io.type]);
      tensor.message(F.tensorType.shape, (shape) => {
        for (const d of io.shape) {
          shape.message(F.shape.dim, (dim) =>
            typeof d === 'number' ? dim.int64(F.dim.value, d) : dim.string(F.dim.param, d),
          );
        }
      });
    }),
  );
}

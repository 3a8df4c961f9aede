/**
 * Describes an .onnx file without running it: what it takes, what it gives, which operators
 * and opsets it needs, and the digest receipts refer to. Written for files from any exporter:
 * unknown fields are skipped, missing shapes read as null.
 */
import { createHash } from 'node:crypto';
import { ModelFormatError, ProtobufDecodeError } from '../errors.js';
import { ProtoMessage } from './protobuf-reader.js';
import { elementTypeName, F, type InspectedDim } from './types.js';

export interface TensorInfo {
  readonly name: string;
  /** Element type name ('float32', 'int64', …); 'sequence', 'map', … for non-tensor values. */
  readonly type: string;
  /** Null when the model declares no shape (unknown rank); a null dim is an unnamed unknown size. */
  readonly shape: readonly InspectedDim[] | null;
}

export interface OpsetInfo {
  /** '' is the default ONNX domain ('ai.onnx' is normalised to it). */
  readonly domain: string;
  readonly version: number;
}

export interface ModelInfo {
  readonly irVersion: number;
  readonly producer: { readonly name: string; readonly version: string };
  readonly graphName: string;
  readonly opsets: readonly OpsetInfo[];
  /** Graph inputs a caller must feed: initializers listed as inputs (IR < 4 style) are left out. */
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Nodes of the main graph (subgraphs of If/Loop are not counted). */
  readonly nodeCount: number;
  /** Distinct operators of the main graph, sorted; non-default domains as `domain.Op`. */
  readonly opTypes: readonly string[];
  readonly initializerCount: number;
  readonly byteLength: number;
  /** Lower-case hex sha256 of the bytes: the model digest in receipts and manifests. */
  readonly sha256: string;
}

/** Highest IR version we accept as plausible; real files are at 3..12 today. */
const MAX_IR_VERSION = 100;

export function inspectModel(bytes: Uint8Array, source = 'model'): ModelInfo {
  if (bytes.length === 0) throw new ModelFormatError(source, 'the file is empty');
  try {
    return describe(ProtoMessage.decode(bytes, 'ModelProto'), bytes);
  } catch (err) {
    if (err instanceof ProtobufDecodeError) {
      throw new ModelFormatError(source, `${err.message} (the bytes are not protobuf, or are damaged)`, err);
    }
    if (err instanceof InvalidModel) throw new ModelFormatError(source, err.message, err);
    throw err;
  }
}

/** Internal: a structural problem, turned into ModelFormatError with the source name. */
class InvalidModel extends Error {}

function describe(model: ProtoMessage, bytes: Uint8Array): ModelInfo {
  const irVersion = model.int(F.model.irVersion, 'ir_version');
  if (irVersion === undefined) {
    throw new InvalidModel(
      `ModelProto.ir_version (field ${F.model.irVersion}) is missing, so this is not an ONNX model`,
    );
  }
  if (irVersion < 1 || irVersion > MAX_IR_VERSION) {
    throw new InvalidModel(`ModelProto.ir_version is ${irVersion}, expected 1..${MAX_IR_VERSION}`);
  }
  const graph = model.message(F.model.graph, 'graph');
  if (graph === undefined) throw new InvalidModel(`ModelProto.graph (field ${F.model.graph}) is missing`);
  const opsets = model.messages(F.model.opsetImport, 'opset_import').map(readOpset);
  // IR 3 introduced opset_import; every later model must import at least the default domain.
  if (irVersion >= 3 && opsets.length === 0) throw new InvalidModel('ModelProto.opset_import is empty');

  const initializerNames = new Set<string>();
  for (const t of graph.messages(F.graph.initializer, 'initializer'))
    initializerNames.add(t.string(F.tensor.name, 'name') ?? '');
  for (const s of graph.messages(15, 'sparse_initializer')) {
    initializerNames.add(s.message(1, 'values')?.string(F.tensor.name, 'name') ?? '');
  }
  const nodes = graph.messages(F.graph.node, 'node');
  const opTypes = new Set<string>();
  for (const n of nodes) {
    const op = n.string(F.node.opType, 'op_type');
    if (op === undefined || op === '') throw new InvalidModel(`${n.path}.op_type is missing`);
    const domain = normaliseDomain(n.string(F.node.domain, 'domain') ?? '');
    opTypes.add(domain === '' ? op : `${domain}.${op}`);
  }
  return {
    irVersion,
    producer: {
      name: model.string(F.model.producerName, 'producer_name') ?? '',
      version: model.string(F.model.producerVersion, 'producer_version') ?? '',
    },
    graphName: graph.string(F.graph.name, 'name') ?? '',
    opsets,
    inputs: graph
      .messages(F.graph.input, 'input')
      .map(readValueInfo)
      .filter((i) => !initializerNames.has(i.name)),
    outputs: graph.messages(F.graph.output, 'output').map(readValueInfo),
    nodeCount: nodes.length,
    opTypes: [...opTypes].sort(),
    initializerCount: initializerNames.size,
    byteLength: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

function readOpset(m: ProtoMessage): OpsetInfo {
  const version = m.int(F.opset.version, 'version');
  if (version === undefined) throw new InvalidModel(`${m.path}.version is missing`);
  return { domain: normaliseDomain(m.string(F.opset.domain, 'domain') ?? ''), version };
}

function normaliseDomain(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

function readValueInfo(m: ProtoMessage): TensorInfo {
  const name = m.string(F.valueInfo.name, 'name');
  if (name === undefined || name === '') throw new InvalidModel(`${m.path}.name is missing`);
  const type = m.message(F.valueInfo.type, 'type');
  if (type === undefined) return { name, type: 'unknown', shape: null };
  const tensor = type.message(F.type.tensor, 'tensor_type');
  if (tensor === undefined) return { name, type: nonTensorKind(type), shape: null };
  const elem = tensor.int(F.tensorType.elemType, 'elem_type');
  const shape = tensor.message(F.tensorType.shape, 'shape');
  return {
    name,
    type: elem === undefined ? 'unknown' : elementTypeName(elem),
    shape: shape === undefined ? null : shape.messages(F.shape.dim, 'dim').map(readDim),
  };
}

function readDim(d: ProtoMessage): InspectedDim {
  // A oneof; a file that sets both is malformed, and the symbol says more than the number then.
  const value = d.int(F.dim.value, 'dim_value');
  const param = d.string(F.dim.param, 'dim_param');
  if (value !== undefined && param === undefined) return value;
  if (param !== undefined && param !== '') return param;
  return value ?? null;
}

function nonTensorKind(type: ProtoMessage): string {
  if (type.has(F.type.sequence)) return 'sequence';
  if (type.has(F.type.map)) return 'map';
  if (type.has(F.type.optional)) return 'optional';
  if (type.has(F.type.sparseTensor)) return 'sparse_tensor';
  if (type.has(F.type.opaque)) return 'opaque';
  return 'unknown';
}

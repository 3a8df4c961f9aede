/**
 * A pure-TypeScript ONNX graph builder: a fluent API over the ops fieldmesh's models need,
 * encoded straight to ModelProto bytes (onnx.proto field numbers in ./types.ts).
 */
import { GraphBuildError } from '../errors.js';
import {
  type AttributeValue,
  type InitializerRecord,
  type IoRecord,
  type NodeRecord,
  writeInitializer,
  writeNode,
  writeValueInfo,
} from './proto-encode.js';
import { ProtoWriter } from './protobuf-writer.js';
import { type Dim, type ElementType, F } from './types.js';

export type { AttributeValue } from './proto-encode.js';

/** A tensor in the graph under construction; only meaningful to the builder that made it. */
export class TensorValue {
  /** @internal use the builder's methods to make values. */
  constructor(readonly name: string) {}
}

export interface NodeOptions {
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  /** Name of the node's output value; a fresh `<op>_<n>` if absent. */
  readonly outputName?: string;
}

export interface GraphBuilderOptions {
  /** Default-domain opset, 13..21. ReduceMean takes its axes as an attribute below 18, as an input from 18. */
  readonly opset?: number;
  /** IR version; by default the one that introduced the opset's ONNX release. */
  readonly irVersion?: number;
  readonly producerVersion?: string;
  readonly docString?: string;
  readonly modelVersion?: number;
}

export const DEFAULT_OPSET = 17;
export const PRODUCER_NAME = 'fieldmesh';

export class GraphBuilder {
  readonly opset: number;
  readonly irVersion: number;
  private readonly options: GraphBuilderOptions;
  private readonly values = new Set<TensorValue>();
  private readonly names = new Set<string>();
  private readonly nodes: NodeRecord[] = [];
  private readonly inputs: IoRecord[] = [];
  private readonly outputs: IoRecord[] = [];
  private readonly initializers: InitializerRecord[] = [];
  private counter = 0;

  constructor(
    readonly name: string,
    options: GraphBuilderOptions = {},
  ) {
    this.opset = options.opset ?? DEFAULT_OPSET;
    if (!Number.isInteger(this.opset) || this.opset < 13 || this.opset > 21) {
      throw new GraphBuildError(name, `opset ${this.opset} is not supported; use 13..21`);
    }
    this.irVersion = options.irVersion ?? defaultIrVersion(this.opset);
    this.options = options;
  }

  input(name: string, type: ElementType, shape: readonly Dim[]): TensorValue {
    this.checkShape(name, shape);
    this.inputs.push({ name, type, shape: [...shape] });
    return this.define(name);
  }

  /** A float32 constant, stored as raw little-endian bytes. */
  initializer(name: string, data: ArrayLike<number>, dims: readonly number[]): TensorValue {
    this.checkData(name, data.length, dims);
    const raw = new Uint8Array(data.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] as number, true);
    this.initializers.push({ name, type: 'float32', dims: [...dims], raw });
    return this.define(name);
  }

  /** An int64 constant (axes, shapes), stored as raw little-endian bytes. */
  initializerInt64(name: string, data: ArrayLike<number | bigint>, dims: readonly number[]): TensorValue {
    this.checkData(name, data.length, dims);
    const raw = new Uint8Array(data.length * 8);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, BigInt(data[i] as number | bigint), true);
    this.initializers.push({ name, type: 'int64', dims: [...dims], raw });
    return this.define(name);
  }

  matmul(a: TensorValue, b: TensorValue, outputName?: string): TensorValue {
    return this.node('MatMul', [a, b], named(outputName));
  }
  add(a: TensorValue, b: TensorValue, outputName?: string): TensorValue {
    return this.node('Add', [a, b], named(outputName));
  }
  sub(a: TensorValue, b: TensorValue, outputName?: string): TensorValue {
    return this.node('Sub', [a, b], named(outputName));
  }
  mul(a: TensorValue, b: TensorValue, outputName?: string): TensorValue {
    return this.node('Mul', [a, b], named(outputName));
  }
  div(a: TensorValue, b: TensorValue, outputName?: string): TensorValue {
    return this.node('Div', [a, b], named(outputName));
  }
  pow(a: TensorValue, b: TensorValue, outputName?: string): TensorValue {
    return this.node('Pow', [a, b], named(outputName));
  }
  /** x², as Mul(x, x): exact, and cheaper than Pow on every runtime. */
  square(x: TensorValue, outputName?: string): TensorValue {
    return this.node('Mul', [x, x], named(outputName));
  }
  relu(x: TensorValue, outputName?: string): TensorValue {
    return this.node('Relu', [x], named(outputName));
  }
  tanh(x: TensorValue, outputName?: string): TensorValue {
    return this.node('Tanh', [x], named(outputName));
  }
  sigmoid(x: TensorValue, outputName?: string): TensorValue {
    return this.node('Sigmoid', [x], named(outputName));
  }
  identity(x: TensorValue, outputName?: string): TensorValue {
    return this.node('Identity', [x], named(outputName));
  }
  softmax(x: TensorValue, axis = -1, outputName?: string): TensorValue {
    return this.node('Softmax', [x], { attributes: { axis: { int: axis } }, ...named(outputName) });
  }

  reduceMean(x: TensorValue, axes: readonly number[], keepdims: boolean, outputName?: string): TensorValue {
    const keep = { keepdims: { int: keepdims ? 1 : 0 } };
    if (this.opset < 18)
      return this.node('ReduceMean', [x], {
        attributes: { ...keep, axes: { ints: axes } },
        ...named(outputName),
      });
    const axesValue = this.initializerInt64(this.freshName('axes'), axes, [axes.length]);
    return this.node('ReduceMean', [x, axesValue], { attributes: keep, ...named(outputName) });
  }

  /** Any single-output operator, for ops without a helper. */
  node(opType: string, inputs: readonly TensorValue[], options: NodeOptions = {}): TensorValue {
    for (const v of inputs) this.checkOwn(v, opType);
    const output = options.outputName ?? this.freshName(opType.toLowerCase());
    const value = this.define(output);
    this.nodes.push({
      opType,
      name: `${opType}_${this.nodes.length}`,
      inputs: inputs.map((v) => v.name),
      output,
      attributes: options.attributes ?? {},
      // Only the default domain: the builder imports no other opset, so other domains could not resolve.
      domain: '',
    });
    return value;
  }

  /** Declares `value` a graph output called `name` (through an Identity when it has another name). */
  output(value: TensorValue, name: string, type: ElementType, shape: readonly Dim[]): void {
    this.checkOwn(value, `output "${name}"`);
    this.checkShape(name, shape);
    if (this.outputs.some((o) => o.name === name))
      throw new GraphBuildError(this.name, `output "${name}" is declared twice`);
    if (value.name !== name) this.identity(value, name);
    this.outputs.push({ name, type, shape: [...shape] });
  }

  /** The ModelProto bytes. Deterministic: the same calls give the same bytes. */
  toBytes(): Uint8Array {
    if (this.outputs.length === 0)
      throw new GraphBuildError(this.name, 'has no outputs; call output() first');
    const w = new ProtoWriter();
    w.int64(F.model.irVersion, this.irVersion);
    w.string(F.model.producerName, PRODUCER_NAME);
    if (this.options.producerVersion !== undefined)
      w.string(F.model.producerVersion, this.options.producerVersion);
    if (this.options.modelVersion !== undefined) w.int64(F.model.modelVersion, this.options.modelVersion);
    if (this.options.docString !== undefined) w.string(F.model.docString, this.options.docString);
    w.message(F.model.graph, (g) => this.writeGraph(g));
    w.message(F.model.opsetImport, (o) => o.string(F.opset.domain, '').int64(F.opset.version, this.opset));
    return w.finish();
  }

  private writeGraph(g: ProtoWriter): void {
    for (const n of this.nodes) g.message(F.graph.node, (w) => writeNode(w, n));
    g.string(F.graph.name, this.name);
    for (const t of this.initializers) g.message(F.graph.initializer, (w) => writeInitializer(w, t));
    for (const i of this.inputs) g.message(F.graph.input, (w) => writeValueInfo(w, i));
    for (const o of this.outputs) g.message(F.graph.output, (w) => writeValueInfo(w, o));
  }

  private define(name: string): TensorValue {
    if (name === '') throw new GraphBuildError(this.name, 'value names must not be empty');
    if (this.names.has(name)) throw new GraphBuildError(this.name, `value "${name}" is defined twice`);
    this.names.add(name);
    const value = new TensorValue(name);
    this.values.add(value);
    return value;
  }

  private freshName(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  private checkOwn(v: TensorValue, where: string): void {
    if (!this.values.has(v))
      throw new GraphBuildError(this.name, `${where} uses "${v.name}", a value of another graph`);
  }

  private checkShape(name: string, shape: readonly Dim[]): void {
    for (const d of shape) {
      const ok = typeof d === 'string' ? d.length > 0 : Number.isSafeInteger(d) && d >= 0;
      if (!ok)
        throw new GraphBuildError(
          this.name,
          `"${name}" has dimension ${JSON.stringify(d)}; use a size ≥ 0 or a symbol`,
        );
    }
  }

  private checkData(name: string, length: number, dims: readonly number[]): void {
    this.checkShape(name, dims);
    const expected = dims.reduce((n, d) => n * d, 1);
    if (expected !== length) {
      throw new GraphBuildError(
        this.name,
        `initializer "${name}" has ${length} values but dims [${dims.join(', ')}] need ${expected}`,
      );
    }
  }
}

function named(outputName: string | undefined): { outputName?: string } {
  return outputName === undefined ? {} : { outputName };
}

/** The IR version of the ONNX release that introduced each opset (onnx/docs/Versioning.md). */
function defaultIrVersion(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

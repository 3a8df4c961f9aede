import { describe, expect, it } from 'vitest';
import { GraphBuildError } from '../../../models/errors.js';
import { GraphBuilder } from '../../../models/onnx/graph-builder.js';
import { ProtoMessage } from '../../../models/onnx/protobuf-reader.js';
import { autoencoderScores, forward } from '../../../models/train/reference.js';
import { appendDenseLayers, buildAutoencoderModel } from '../../../models/train/to-onnx.js';
import { expectClose, randomFloats, randomMlp, runOnnx } from '../helpers.js';

/** Reads bytes back with the raw reader, by onnx.proto field number, independent of inspect.ts. */
function rawModel(bytes: Uint8Array) {
  const model = ProtoMessage.decode(bytes, 'ModelProto');
  const graph = model.message(7, 'graph');
  if (graph === undefined) throw new Error('no graph');
  return { model, graph };
}

describe('GraphBuilder encoding (onnx.proto field numbers)', () => {
  const build = () => {
    const g = new GraphBuilder('tiny', { producerVersion: '1.2.3', docString: 'why', modelVersion: 4 });
    const x = g.input('window', 'float32', ['N', 2]);
    const w = g.initializer('w', [1, 2, 3, 4], [2, 2]);
    g.output(g.softmax(g.matmul(x, w), 1), 'probs', 'float32', ['N', 2]);
    return g.toBytes();
  };

  it('writes ModelProto metadata and the opset import where onnx.proto puts them', () => {
    const { model } = rawModel(build());
    expect(model.int(1, 'ir_version')).toBe(8);
    expect(model.string(2, 'producer_name')).toBe('fieldmesh');
    expect(model.string(3, 'producer_version')).toBe('1.2.3');
    expect(model.int(5, 'model_version')).toBe(4);
    expect(model.string(6, 'doc_string')).toBe('why');
    const opsets = model.messages(8, 'opset_import');
    expect(opsets.map((o) => [o.string(1, 'domain'), o.int(2, 'version')])).toEqual([['', 17]]);
  });

  it('writes nodes, attributes, initializers and typed inputs/outputs', () => {
    const { graph } = rawModel(build());
    expect(graph.string(2, 'name')).toBe('tiny');
    const nodes = graph.messages(1, 'node');
    expect(nodes.map((n) => n.string(4, 'op_type'))).toEqual(['MatMul', 'Softmax', 'Identity']);
    expect(nodes[0]?.strings(1, 'input')).toEqual(['window', 'w']);
    const softmax = nodes[1] as ProtoMessage;
    const attr = softmax.messages(5, 'attribute')[0] as ProtoMessage;
    expect([attr.string(1, 'name'), attr.int(3, 'i'), attr.int(20, 'type')]).toEqual(['axis', 1, 2]);
    expect(nodes[2]?.strings(2, 'output')).toEqual(['probs']);

    const init = graph.messages(5, 'initializer')[0] as ProtoMessage;
    expect(init.ints(1, 'dims')).toEqual([2, 2]);
    expect(init.int(2, 'data_type')).toBe(1);
    expect(init.string(8, 'name')).toBe('w');
    const raw = init.bytes(9, 'raw_data') as Uint8Array;
    expect(Array.from(new Float32Array(raw.slice().buffer))).toEqual([1, 2, 3, 4]);

    const input = graph.messages(11, 'input')[0] as ProtoMessage;
    expect(input.string(1, 'name')).toBe('window');
    const tensorType = input.message(2, 'type')?.message(1, 'tensor_type') as ProtoMessage;
    expect(tensorType.int(1, 'elem_type')).toBe(1);
    const dims = tensorType.message(2, 'shape')?.messages(1, 'dim') ?? [];
    expect(dims.map((d) => d.string(2, 'dim_param') ?? d.int(1, 'dim_value'))).toEqual(['N', 2]);
    expect(graph.messages(12, 'output').map((o) => o.string(1, 'name'))).toEqual(['probs']);
  });

  it('puts ReduceMean axes in an attribute below opset 18 and in an int64 input from 18', () => {
    for (const [opset, ir] of [
      [17, 8],
      [18, 8],
      [21, 10],
    ] as const) {
      const g = new GraphBuilder('r', { opset });
      const x = g.input('x', 'float32', ['N', 3]);
      g.output(g.reduceMean(x, [1], false), 'm', 'float32', ['N']);
      const { model, graph } = rawModel(g.toBytes());
      expect(model.int(1, 'ir_version')).toBe(ir);
      const node = graph.messages(1, 'node')[0] as ProtoMessage;
      const attrs = node.messages(5, 'attribute').map((a) => a.string(1, 'name'));
      if (opset < 18) {
        expect(attrs).toEqual(['keepdims', 'axes']);
        expect(node.messages(5, 'attribute')[1]?.ints(8, 'ints')).toEqual([1]);
      } else {
        expect(attrs).toEqual(['keepdims']);
        const axes = graph.messages(5, 'initializer')[0] as ProtoMessage;
        expect(axes.int(2, 'data_type')).toBe(7);
        expect(node.strings(1, 'input')).toEqual(['x', axes.string(8, 'name')]);
      }
    }
  });

  it('is deterministic: the same calls give the same bytes', () => {
    expect(Buffer.from(build()).equals(Buffer.from(build()))).toBe(true);
  });
});

describe('GraphBuilder models in onnxruntime', () => {
  it('runs a 2-layer MLP exactly like the JavaScript reference, for N=1 and N=5', async () => {
    const mlp = randomMlp(7, [6, 10, 3], ['relu', 'linear']);
    const g = new GraphBuilder('mlp');
    const x = g.input('x', 'float32', ['N', 6]);
    g.output(appendDenseLayers(g, x, mlp), 'y', 'float32', ['N', 3]);
    const bytes = g.toBytes();
    for (const n of [1, 5]) {
      const input = randomFloats(100 + n, n * 6);
      const out = await runOnnx(bytes, { x: { data: input, dims: [n, 6] } });
      expect(out.y?.dims).toEqual([n, 3]);
      expectClose(out.y?.data ?? [], forward(mlp, input, n));
    }
  });

  it.each([17, 18, 21])(
    'runs the autoencoder graph (opset %d): score and reconstruction match the reference',
    async (opset) => {
      const mlp = randomMlp(3, [32, 16, 8, 16, 32], ['tanh', 'tanh', 'tanh', 'linear']);
      const bytes = buildAutoencoderModel(mlp, { name: 'ae', opset });
      for (const n of [1, 5]) {
        const windows = randomFloats(200 + n, n * 32);
        const out = await runOnnx(bytes, { window: { data: windows, dims: [n, 32] } });
        const ref = autoencoderScores(mlp, windows, n);
        expect(out.score?.dims).toEqual([n]);
        expect(out.reconstruction?.dims).toEqual([n, 32]);
        expectClose(out.score?.data ?? [], ref.scores);
        expectClose(out.reconstruction?.data ?? [], ref.reconstruction);
      }
    },
  );

  it('computes the element-wise ops, Softmax and ReduceMean as their definitions say', async () => {
    const g = new GraphBuilder('ops');
    const a = g.input('a', 'float32', ['N', 4]);
    const b = g.initializer('b', [0.5, -1, 2, 4], [4]);
    const two = g.initializer('two', [2], []);
    g.output(g.sub(a, b), 'sub', 'float32', ['N', 4]);
    g.output(g.div(a, b), 'div', 'float32', ['N', 4]);
    g.output(g.mul(a, b), 'mul', 'float32', ['N', 4]);
    g.output(g.pow(a, two), 'pow', 'float32', ['N', 4]);
    g.output(g.square(a), 'square', 'float32', ['N', 4]);
    g.output(g.sigmoid(a), 'sigmoid', 'float32', ['N', 4]);
    g.output(g.tanh(a), 'tanh', 'float32', ['N', 4]);
    g.output(g.relu(a), 'relu', 'float32', ['N', 4]);
    g.output(g.identity(a), 'identity', 'float32', ['N', 4]);
    g.output(g.softmax(a), 'softmax', 'float32', ['N', 4]);
    g.output(g.reduceMean(a, [1], true), 'mean', 'float32', ['N', 1]);
    const data = Float32Array.from([1, -2, 0.5, 3, -1, 0, 2, -0.25]);
    const out = await runOnnx(g.toBytes(), { a: { data, dims: [2, 4] } });
    const bv = [0.5, -1, 2, 4];
    const col = (i: number) => bv[i % 4] as number;
    const map = (f: (x: number, i: number) => number) => Array.from(data, f);
    expectClose(
      out.sub?.data ?? [],
      map((x, i) => x - col(i)),
    );
    expectClose(
      out.div?.data ?? [],
      map((x, i) => x / col(i)),
    );
    expectClose(
      out.mul?.data ?? [],
      map((x, i) => x * col(i)),
    );
    expectClose(
      out.pow?.data ?? [],
      map((x) => x * x),
    );
    expectClose(
      out.square?.data ?? [],
      map((x) => x * x),
    );
    expectClose(
      out.sigmoid?.data ?? [],
      map((x) => 1 / (1 + Math.exp(-x))),
    );
    expectClose(out.tanh?.data ?? [], map(Math.tanh));
    expectClose(
      out.relu?.data ?? [],
      map((x) => Math.max(0, x)),
    );
    expectClose(out.identity?.data ?? [], data);
    const softmax = (row: number[]) => row.map((x) => Math.exp(x) / row.reduce((s, y) => s + Math.exp(y), 0));
    expectClose(out.softmax?.data ?? [], [...softmax([1, -2, 0.5, 3]), ...softmax([-1, 0, 2, -0.25])]);
    expectClose(out.mean?.data ?? [], [2.5 / 4, 0.75 / 4]);
    expect(out.mean?.dims).toEqual([2, 1]);
  });

  it('declares fixed dimensions that onnxruntime enforces', async () => {
    const bytes = buildAutoencoderModel(randomMlp(1, [32, 8, 32], ['tanh', 'linear']), { name: 'ae' });
    await expect(runOnnx(bytes, { window: { data: new Float32Array(31), dims: [1, 31] } })).rejects.toThrow(
      /dim|shape/i,
    );
  });
});

describe('GraphBuilder refuses graphs it cannot encode', () => {
  const fails = (f: (g: GraphBuilder) => void, message: RegExp) => {
    const g = new GraphBuilder('bad');
    expect(() => f(g)).toThrow(GraphBuildError);
    expect(() => f(new GraphBuilder('bad'))).toThrow(message);
  };

  it('rejects a name defined twice', () =>
    fails((g) => {
      g.input('x', 'float32', [1]);
      g.initializer('x', [1], [1]);
    }, /value "x" is defined twice/));

  it('rejects initializer data that does not fill its dims', () =>
    fails((g) => g.initializer('w', [1, 2, 3], [2, 2]), /"w" has 3 values but dims \[2, 2\] need 4/));

  it('rejects values from another graph', () => {
    const other = new GraphBuilder('other').input('x', 'float32', [1]);
    fails((g) => g.relu(other), /uses "x", a value of another graph/);
  });

  it('rejects bad dimensions, duplicate outputs, no outputs and unknown opsets', () => {
    fails((g) => g.input('x', 'float32', [-1]), /dimension -1/);
    fails((g) => g.input('x', 'float32', ['']), /dimension ""/);
    fails((g) => {
      const x = g.input('x', 'float32', [1]);
      g.output(x, 'y', 'float32', [1]);
      g.output(x, 'y', 'float32', [1]);
    }, /output "y" is declared twice/);
    fails((g) => g.toBytes(), /has no outputs/);
    expect(() => new GraphBuilder('g', { opset: 12 })).toThrow(/opset 12 is not supported/);
    expect(new GraphBuilder('g', { opset: 13 }).irVersion).toBe(7);
  });

  it('gives fresh names that never collide with names the caller chose', () => {
    const g = new GraphBuilder('names');
    const x = g.input('relu_0', 'float32', ['N']);
    const y = g.relu(x);
    expect(y.name).not.toBe('relu_0');
    expect(g.tanh(y, 'chosen').name).toBe('chosen');
  });
});

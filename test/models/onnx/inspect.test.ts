import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../../models/errors.js';
import { GraphBuilder } from '../../../models/onnx/graph-builder.js';
import { inspectModel } from '../../../models/onnx/inspect.js';
import { ProtoWriter } from '../../../models/onnx/protobuf-writer.js';
import { createRng } from '../../../models/prng.js';
import { buildAutoencoderModel } from '../../../models/train/to-onnx.js';
import { randomMlp } from '../helpers.js';

const EXAMPLES = new URL('../../../models/examples/', import.meta.url);

describe('inspectModel on fieldmesh-built models', () => {
  it('reports the autoencoder: inputs, outputs, opset, ops and digest', () => {
    const bytes = buildAutoencoderModel(
      randomMlp(1, [32, 16, 8, 16, 32], ['tanh', 'tanh', 'tanh', 'linear']),
      {
        name: 'ae',
        producerVersion: '9.9.9',
      },
    );
    const info = inspectModel(bytes);
    expect(info.irVersion).toBe(8);
    expect(info.producer).toEqual({ name: 'fieldmesh', version: '9.9.9' });
    expect(info.graphName).toBe('ae');
    expect(info.opsets).toEqual([{ domain: '', version: 17 }]);
    expect(info.inputs).toEqual([{ name: 'window', type: 'float32', shape: ['N', 32] }]);
    expect(info.outputs).toEqual([
      { name: 'score', type: 'float32', shape: ['N'] },
      { name: 'reconstruction', type: 'float32', shape: ['N', 32] },
    ]);
    expect(info.opTypes).toEqual(['Add', 'MatMul', 'Mul', 'ReduceMean', 'Sub', 'Tanh']);
    // MatMul+Add+Tanh for three layers, MatMul+Add for the linear last one, then Sub, Mul, ReduceMean.
    expect(info.nodeCount).toBe(3 * 3 + 2 + 3);
    expect(info.initializerCount).toBe(8);
    expect(info.byteLength).toBe(bytes.length);
    expect(info.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });

  it('reports int64 and float16 element types by name', () => {
    const g = new GraphBuilder('types', { opset: 18 });
    const ids = g.input('ids', 'int64', [4]);
    g.output(g.identity(ids), 'same', 'int64', [4]);
    const half = g.input('half', 'float16', ['B', 2]);
    g.output(half, 'half', 'float16', ['B', 2]);
    const info = inspectModel(g.toBytes());
    expect(info.inputs.map((i) => [i.name, i.type, i.shape])).toEqual([
      ['ids', 'int64', [4]],
      ['half', 'float16', ['B', 2]],
    ]);
    expect(info.opsets).toEqual([{ domain: '', version: 18 }]);
    expect(info.irVersion).toBe(8);
  });

  it.each(['vibration-ae', 'temperature-ae'])(
    'reports the committed example %s as its manifest says',
    async (id) => {
      const bytes = new Uint8Array(await readFile(new URL(`${id}/model.onnx`, EXAMPLES)));
      const manifest = JSON.parse(await readFile(new URL(`${id}/manifest.json`, EXAMPLES), 'utf8'));
      const info = inspectModel(bytes, `${id}/model.onnx`);
      expect(info.sha256).toBe(manifest.sha256);
      expect(info.inputs).toEqual(manifest.inputs);
      expect(info.outputs).toEqual(manifest.outputs);
      expect(info.opsets).toEqual([{ domain: '', version: 17 }]);
      expect(info.graphName).toBe(id);
      expect(info.producer.name).toBe('fieldmesh');
    },
  );
});

/**
 * A model as another exporter might write it (IR 3 habits, extra domains, fields fieldmesh
 * never writes, a group, unshaped and non-tensor values), assembled field by field.
 */
function foreignModel(): Uint8Array {
  const tensorType = (elem: number, dims?: (number | string | null)[]) => (t: ProtoWriter) =>
    t.message(1, (tt) => {
      tt.int64(1, elem);
      if (dims === undefined) return;
      tt.message(2, (s) => {
        for (const d of dims) {
          s.message(1, (dim) => {
            if (typeof d === 'number') dim.int64(1, d);
            else if (typeof d === 'string') dim.string(2, d);
            else dim.string(3, 'DATA_BATCH'); // denotation only: size unknown
          });
        }
      });
    });
  const node = (op: string, inputs: string[], output: string, domain?: string) => (n: ProtoWriter) => {
    for (const i of inputs) n.string(1, i);
    n.string(2, output).string(4, op).string(6, 'exporter doc');
    if (domain !== undefined) n.string(7, domain);
  };
  const graph = (g: ProtoWriter) => {
    g.message(1, node('Gemm', ['input', 'fc.weight'], 'h'));
    g.message(1, node('FusedMatMul', ['h', 'h'], 'h2', 'com.microsoft'));
    g.message(1, node('Relu', ['h2'], 'logits', 'ai.onnx'));
    g.string(2, 'torch_jit');
    // Initializer with packed dims and float_data instead of raw_data.
    g.message(5, (t) =>
      t.packedInt64(1, [3, 2]).int64(2, 1).packedFloats(4, [1, 2, 3, 4, 5, 6]).string(8, 'fc.weight'),
    );
    g.message(11, (v) => v.string(1, 'input').message(2, tensorType(1, ['batch_size', 3, null])));
    g.message(11, (v) => v.string(1, 'fc.weight').message(2, tensorType(1, [3, 2])));
    g.message(11, (v) => v.string(1, 'mask').message(2, tensorType(9)));
    g.message(11, (v) =>
      v.string(1, 'history').message(2, (t) => t.message(4, (s) => s.message(1, tensorType(1)))),
    );
    g.message(11, (v) => v.string(1, 'untyped'));
    g.message(12, (v) => v.string(1, 'logits').message(2, tensorType(10, ['batch_size', 2])));
    g.message(12, (v) => v.string(1, 'future').message(2, tensorType(30, [1])));
    g.message(13, (v) => v.string(1, 'h').message(2, tensorType(1)));
  };
  const w = new ProtoWriter().int64(1, 3).string(2, 'pytorch').string(3, '2.1.0').string(4, 'org.example');
  w.message(7, graph);
  w.message(8, (o) => o.string(1, '').int64(2, 13));
  w.message(8, (o) => o.string(1, 'ai.onnx.ml').int64(2, 3));
  w.message(8, (o) => o.string(1, 'com.microsoft').int64(2, 1));
  w.message(14, (kv) => kv.string(1, 'author').string(2, 'someone'));
  w.uint64(99, 12345).float(100, 1.5);
  const withGroup = new Uint8Array([...w.finish(), 0x93, 0x03, 0x08, 0x01, 0x94, 0x03]); // group field 50
  return withGroup;
}

describe('inspectModel on models from other exporters', () => {
  const info = inspectModel(foreignModel(), 'foreign.onnx');

  it('reads metadata and every opset import, normalising "ai.onnx" to the default domain', () => {
    expect(info.irVersion).toBe(3);
    expect(info.producer).toEqual({ name: 'pytorch', version: '2.1.0' });
    expect(info.opsets).toEqual([
      { domain: '', version: 13 },
      { domain: 'ai.onnx.ml', version: 3 },
      { domain: 'com.microsoft', version: 1 },
    ]);
    expect(info.opTypes).toEqual(['Gemm', 'Relu', 'com.microsoft.FusedMatMul']);
    expect(info.nodeCount).toBe(3);
    expect(info.graphName).toBe('torch_jit');
  });

  it('leaves out initializers listed as inputs and tolerates missing shapes and types', () => {
    expect(info.inputs).toEqual([
      { name: 'input', type: 'float32', shape: ['batch_size', 3, null] },
      { name: 'mask', type: 'bool', shape: null },
      { name: 'history', type: 'sequence', shape: null },
      { name: 'untyped', type: 'unknown', shape: null },
    ]);
    expect(info.outputs).toEqual([
      { name: 'logits', type: 'float16', shape: ['batch_size', 2] },
      { name: 'future', type: 'type30', shape: [1] },
    ]);
    expect(info.initializerCount).toBe(1);
  });
});

describe('inspectModel rejects what is not an ONNX model', () => {
  const rejects = (bytes: Uint8Array, message: RegExp) => {
    let caught: unknown;
    try {
      inspectModel(bytes, 'suspect.onnx');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ModelFormatError);
    expect((caught as ModelFormatError).code).toBe('MODEL_FORMAT');
    expect((caught as Error).message).toMatch(/^suspect\.onnx: not a readable ONNX model: /);
    expect((caught as Error).message).toMatch(message);
  };

  it('names an empty file', () => rejects(new Uint8Array(), /the file is empty/));

  it('rejects random bytes, naming the wire-format problem', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const rng = createRng(seed);
      const bytes = Uint8Array.from({ length: 64 + rng.int(4000) }, () => rng.int(256));
      rejects(bytes, /at byte \d+|is missing|expected 1\.\.100|should be/);
    }
  });

  it('rejects text and JSON', () => {
    rejects(new TextEncoder().encode('hello, this is not a model\n'), /.+/);
    rejects(new TextEncoder().encode('{"id":"vibration-ae","file":"model.onnx"}'), /.+/);
  });

  it('names truncation of a real model', async () => {
    const bytes = new Uint8Array(await readFile(new URL('vibration-ae/model.onnx', EXAMPLES)));
    rejects(bytes.subarray(0, Math.floor(bytes.length / 2)), /runs past the end|truncated/);
  });

  it('names the missing ModelProto fields of protobuf that is not a model', () => {
    rejects(new ProtoWriter().string(2, 'just a producer').finish(), /ir_version \(field 1\) is missing/);
    rejects(new ProtoWriter().int64(1, 8).finish(), /ModelProto\.graph \(field 7\) is missing/);
    rejects(new ProtoWriter().int64(1, 5000).finish(), /ir_version is 5000/);
    rejects(
      new ProtoWriter()
        .int64(1, 8)
        .message(7, (g) => g.string(2, 'g'))
        .finish(),
      /opset_import is empty/,
    );
    rejects(new ProtoWriter().string(1, 'eight').finish(), /ModelProto\.ir_version should be a varint/);
  });

  it('names the node that lacks an operator', () => {
    const bytes = new ProtoWriter()
      .int64(1, 8)
      .message(7, (g) => g.message(1, (n) => n.string(1, 'x')).message(1, (n) => n.string(2, 'y')))
      .message(8, (o) => o.int64(2, 17))
      .finish();
    rejects(bytes, /ModelProto\.graph\.node\[0\]\.op_type is missing/);
  });
});

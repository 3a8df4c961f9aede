import { describe, expect, it } from 'vitest';
import { ProtobufDecodeError } from '../../../models/errors.js';
import { ProtoMessage, ProtoReader } from '../../../models/onnx/protobuf-reader.js';
import { ProtoWriter } from '../../../models/onnx/protobuf-writer.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fromHex = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const decode = (b: Uint8Array) => ProtoMessage.decode(b, 'Test');

describe('protobuf writer', () => {
  it('encodes the examples of the protobuf encoding guide byte for byte', () => {
    expect(hex(new ProtoWriter().uint64(1, 150).finish())).toBe('089601');
    expect(hex(new ProtoWriter().string(2, 'testing').finish())).toBe('120774657374696e67');
    // Embedded message: field 3 holding {1: 150}.
    expect(hex(new ProtoWriter().message(3, (w) => w.uint64(1, 150)).finish())).toBe('1a03089601');
    // Packed repeated: field 4 holding 3, 270, 86942.
    expect(hex(new ProtoWriter().packedInt64(4, [3, 270, 86942]).finish())).toBe('2206038e029ea705');
  });

  it("writes negative int64 as ten-byte two's complement", () => {
    expect(hex(new ProtoWriter().int64(1, -1).finish())).toBe('08ffffffffffffffffff01');
    expect(hex(new ProtoWriter().int64(1, -2n).finish())).toBe('08feffffffffffffffff01');
  });

  it('writes floats as fixed32 and doubles as fixed64, little-endian', () => {
    expect(hex(new ProtoWriter().float(2, 1).finish())).toBe('150000803f');
    expect(hex(new ProtoWriter().double(2, 1).finish())).toBe('11000000000000f03f');
    expect(hex(new ProtoWriter().packedFloats(4, [1, -2]).finish())).toBe('22080000803f000000c0');
  });

  it('refuses values and field numbers protobuf cannot carry', () => {
    expect(() => new ProtoWriter().uint64(1, -1)).toThrow(RangeError);
    expect(() => new ProtoWriter().uint64(1, 1n << 64n)).toThrow(RangeError);
    expect(() => new ProtoWriter().int64(1, 1n << 63n)).toThrow(RangeError);
    expect(() => new ProtoWriter().int64(1, 0.5)).toThrow(RangeError);
    expect(() => new ProtoWriter().uint64(0, 1)).toThrow(RangeError);
    expect(() => new ProtoWriter().uint64(2 ** 29, 1)).toThrow(RangeError);
  });

  it('grows past its initial buffer', () => {
    const big = new Uint8Array(100_000).map((_, i) => i % 251);
    const m = decode(new ProtoWriter().bytes(1, big).uint64(2, 7).finish());
    // Compared as hex: element-wise deep equality on 100 kB is needlessly slow.
    expect(hex(m.bytes(1, 'b') ?? new Uint8Array())).toBe(hex(big));
    expect(m.int(2, 'n')).toBe(7);
  });
});

describe('protobuf round trips', () => {
  const edges = [
    0,
    1,
    127,
    128,
    300,
    16_383,
    16_384,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32,
    2 ** 49 - 1,
    2 ** 49,
    2 ** 53 - 1,
  ];

  it.each(edges)('uint64 %d survives a round trip', (v) => {
    expect(decode(new ProtoWriter().uint64(5, v).finish()).int(5, 'v')).toBe(v);
  });

  it.each([-1, -2, -300, -(2 ** 31), -(2 ** 53 - 1)])('int64 %d survives a round trip', (v) => {
    expect(decode(new ProtoWriter().int64(5, v).finish()).int(5, 'v')).toBe(v);
  });

  it('reads the full 64-bit range exactly at the varint level', () => {
    for (const v of [2n ** 63n - 1n, 2n ** 64n - 1n, 2n ** 56n + 3n]) {
      const bytes = new ProtoWriter().uint64(1, v).finish();
      const r = new ProtoReader(bytes);
      expect(r.field().value).toMatchObject({ wire: 0, value: v });
    }
  });

  it('round-trips strings (UTF-8), bytes, floats, bools and nested messages', () => {
    const w = new ProtoWriter()
      .string(1, 'größe °C ✓')
      .bytes(2, new Uint8Array([0, 255, 7]))
      .float(3, 0.1)
      .double(4, Math.PI)
      .bool(5, true)
      .message(6, (m) => m.string(1, 'inner').message(2, (mm) => mm.int64(1, -5)));
    const m = decode(w.finish());
    expect(m.string(1, 's')).toBe('größe °C ✓');
    expect(m.bytes(2, 'b')).toEqual(new Uint8Array([0, 255, 7]));
    expect(m.float(3, 'f')).toBe(Math.fround(0.1));
    expect(m.floats(3, 'f')).toEqual([Math.fround(0.1)]);
    expect(m.int(5, 'bool')).toBe(1);
    const inner = m.message(6, 'inner');
    expect(inner?.string(1, 's')).toBe('inner');
    expect(inner?.message(2, 'deeper')?.int(1, 'i')).toBe(-5);
    expect(inner?.path).toBe('Test.inner');
    expect(m.fieldNumbers()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads repeated scalars whether packed or not, and mixed', () => {
    const packed = new ProtoWriter().packedInt64(1, [1, -1, 300]).packedFloats(2, [0.5, 2]).finish();
    const unpacked = new ProtoWriter()
      .int64(1, 1)
      .int64(1, -1)
      .int64(1, 300)
      .float(2, 0.5)
      .float(2, 2)
      .finish();
    const mixed = new ProtoWriter()
      .int64(1, 1)
      .packedInt64(1, [-1, 300])
      .float(2, 0.5)
      .packedFloats(2, [2])
      .finish();
    for (const bytes of [packed, unpacked, mixed]) {
      expect(decode(bytes).ints(1, 'ints')).toEqual([1, -1, 300]);
      expect(decode(bytes).floats(2, 'floats')).toEqual([0.5, 2]);
    }
  });

  it('lets the last occurrence of a singular field win and merges repeated embedded messages', () => {
    const bytes = new ProtoWriter()
      .uint64(1, 1)
      .uint64(1, 2)
      .message(2, (m) => m.string(1, 'a').uint64(2, 1))
      .message(2, (m) => m.uint64(2, 9))
      .finish();
    const m = decode(bytes);
    expect(m.int(1, 'n')).toBe(2);
    const merged = m.message(2, 'm');
    expect(merged?.string(1, 's')).toBe('a');
    expect(merged?.int(2, 'n')).toBe(9);
    expect(m.messages(2, 'm')).toHaveLength(2);
  });

  it('returns undefined or empty lists for absent fields', () => {
    const m = decode(new Uint8Array(0));
    expect(m.int(1, 'a')).toBeUndefined();
    expect(m.string(1, 'a')).toBeUndefined();
    expect(m.message(1, 'a')).toBeUndefined();
    expect(m.ints(1, 'a')).toEqual([]);
    expect(m.messages(1, 'a')).toEqual([]);
    expect(m.has(1)).toBe(false);
  });

  it('skips groups, including nested ones, as unknown fields', () => {
    // field 9 start-group { field 1 varint 5, field 10 start-group {} end 10 } end 9, then field 2 = 7
    const bytes = fromHex('4b 0805 53 54 4c 1007');
    const m = decode(bytes);
    expect(m.int(2, 'n')).toBe(7);
    expect(m.has(9)).toBe(false);
  });
});

describe('protobuf decode errors', () => {
  const failsWith = (h: string, message: RegExp, offset?: number) => {
    let caught: unknown;
    try {
      decode(fromHex(h));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ProtobufDecodeError);
    const err = caught as ProtobufDecodeError;
    expect(err.code).toBe('PROTOBUF_DECODE');
    expect(err.message).toMatch(message);
    if (offset !== undefined) expect(err.offset).toBe(offset);
  };

  it('names a truncated varint and where it began', () => failsWith('0896', /truncated varint at byte 1/, 1));
  it('names a length that runs past the end', () =>
    failsWith('0a05616263', /field 1 of 5 bytes runs past the end \(3 left\)/));
  it('rejects varints longer than ten bytes', () =>
    failsWith('08ffffffffffffffffffff01', /longer than 10 bytes/));
  it('rejects varints above 64 bits', () => failsWith('08ffffffffffffffffff7f', /overflows 64 bits/));
  it('rejects wire types 6 and 7', () => {
    failsWith('0e', /invalid wire type 6 at byte 0/);
    failsWith('0f', /invalid wire type 7/);
  });
  it('rejects field number 0', () => failsWith('0001', /field number 0/));
  it('rejects an end-group without a start', () => failsWith('0c', /unmatched end-group/));
  it('rejects an unclosed or mismatched group', () => {
    failsWith('0b0801', /group 1 is not closed/);
    failsWith('0b14', /group 1 closed as 2/);
  });
  it('rejects truncated fixed-width values', () => {
    failsWith('0d0000', /fixed32 of 4 bytes runs past the end/);
    failsWith('09000000', /fixed64 of 8 bytes runs past the end/);
  });

  it('names the field path when a field has the wrong wire type or bad UTF-8', () => {
    const m = ProtoMessage.decode(
      new ProtoWriter()
        .uint64(1, 3)
        .bytes(2, new Uint8Array([0xff, 0xfe]))
        .finish(),
      'ModelProto',
    );
    expect(() => m.string(1, 'producer_name')).toThrow(
      /ModelProto\.producer_name should be a string but has wire type 0/,
    );
    expect(() => m.string(2, 'doc_string')).toThrow(/ModelProto\.doc_string is not valid UTF-8/);
    expect(() => m.message(1, 'graph')).toThrow(/ModelProto\.graph should be an embedded message/);
    expect(() => m.int(2, 'ir_version')).toThrow(/should be a varint/);
    expect(() => m.floats(1, 'floats')).toThrow(/fixed32 floats/);
  });

  it('reports offsets relative to the outermost buffer inside nested messages', () => {
    const inner = fromHex('0896'); // truncated varint at inner byte 1
    const outer = new ProtoWriter().uint64(1, 1).bytes(2, inner).finish(); // 08 01 12 02 | 08 96
    const m = decode(outer);
    expect(() => m.message(2, 'inner')).toThrow(expect.objectContaining({ offset: 5 }));
  });
});

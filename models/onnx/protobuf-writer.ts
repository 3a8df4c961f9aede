/**
 * Protobuf wire-format encoder, just enough for ONNX (https://protobuf.dev/programming-guides/encoding/).
 * Fields are written in the order the caller writes them; callers write them in field-number
 * order so the output matches what the reference serialisers produce.
 */

export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

const TWO_POW_64 = 1n << 64n;
const textEncoder = new TextEncoder();

export class ProtoWriter {
  private buf = new Uint8Array(256);
  private pos = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));

  /** Unsigned varint field (uint32, uint64, or a non-negative int). */
  uint64(field: number, value: number | bigint): this {
    this.tag(field, WireType.Varint);
    this.rawVarint(toUnsignedBig(value, 'uint64'));
    return this;
  }

  /**
   * Signed int64/int32/enum field. Negative values take ten bytes: the spec sign-extends
   * int32 to 64 bits too, so readers of either width agree.
   */
  int64(field: number, value: number | bigint): this {
    this.tag(field, WireType.Varint);
    this.rawVarint(toSignedBig(value));
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.uint64(field, value ? 1 : 0);
  }

  /** float, as fixed32 little-endian IEEE 754. */
  float(field: number, value: number): this {
    this.tag(field, WireType.Fixed32);
    this.scratch.setFloat32(0, value, true);
    this.raw(new Uint8Array(this.scratch.buffer, 0, 4));
    return this;
  }

  /** double, as fixed64 little-endian IEEE 754. */
  double(field: number, value: number): this {
    this.tag(field, WireType.Fixed64);
    this.scratch.setFloat64(0, value, true);
    this.raw(new Uint8Array(this.scratch.buffer, 0, 8));
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LengthDelimited);
    this.rawVarint(BigInt(value.length));
    this.raw(value);
    return this;
  }

  /** Embedded message, built by `build` on a fresh writer or given already encoded. */
  message(field: number, build: ((w: ProtoWriter) => void) | Uint8Array): this {
    if (build instanceof Uint8Array) return this.bytes(field, build);
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /** Packed repeated float: one length-delimited record of fixed32 values. */
  packedFloats(field: number, values: ArrayLike<number>): this {
    const out = new Uint8Array(values.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
    return this.bytes(field, out);
  }

  /** Packed repeated double: one length-delimited record of fixed64 values. */
  packedDoubles(field: number, values: ArrayLike<number>): this {
    const out = new Uint8Array(values.length * 8);
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i] as number, true);
    return this.bytes(field, out);
  }

  /** Packed repeated int64/int32: one length-delimited record of varints. */
  packedInt64(field: number, values: ArrayLike<number | bigint>): this {
    const inner = new ProtoWriter();
    for (let i = 0; i < values.length; i++) inner.rawVarint(toSignedBig(values[i] as number | bigint));
    return this.bytes(field, inner.finish());
  }

  /** The encoded bytes so far (a copy; the writer may keep being used). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private tag(field: number, wire: WireType): void {
    // Field numbers 19000-19999 are reserved by protobuf itself but still encodable; we only
    // refuse numbers no decoder can represent.
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) {
      throw new RangeError(`protobuf field number ${field} is outside 1..2^29-1`);
    }
    this.rawVarint(BigInt(field) * 8n + BigInt(wire));
  }

  private rawVarint(value: bigint): void {
    this.reserve(10);
    let v = value;
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  private raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
}

function toUnsignedBig(value: number | bigint, what: string): bigint {
  const big = typeof value === 'bigint' ? value : integerToBig(value);
  if (big < 0n || big >= TWO_POW_64) throw new RangeError(`${what} value ${value} is outside 0..2^64-1`);
  return big;
}

function toSignedBig(value: number | bigint): bigint {
  const big = typeof value === 'bigint' ? value : integerToBig(value);
  if (big < -(1n << 63n) || big >= 1n << 63n) throw new RangeError(`int64 value ${value} is outside int64`);
  return big < 0n ? big + TWO_POW_64 : big;
}

function integerToBig(value: number): bigint {
  if (!Number.isSafeInteger(value)) throw new RangeError(`varint value ${value} is not a safe integer`);
  return BigInt(value);
}

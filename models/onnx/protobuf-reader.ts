/**
 * Protobuf wire-format decoder, just enough for ONNX (https://protobuf.dev/programming-guides/encoding/).
 * A message is scanned once into its fields; length-delimited values stay views on the input
 * (no copies), so describing a model with megabytes of weights costs little.
 */
import { ProtobufDecodeError } from '../errors.js';
import { WireType } from './protobuf-writer.js';

export type WireValue =
  | { readonly wire: typeof WireType.Varint; readonly value: bigint; readonly offset: number }
  | {
      readonly wire: typeof WireType.Fixed64 | typeof WireType.LengthDelimited | typeof WireType.Fixed32;
      readonly bytes: Uint8Array;
      readonly offset: number;
    };

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const MAX_GROUP_DEPTH = 64;

/** A cursor over protobuf bytes; `base` is where `bytes` starts in the outermost buffer. */
export class ProtoReader {
  pos = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly base = 0,
  ) {}

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** Reads a varint as an unsigned 64-bit value. */
  varint(): bigint {
    const start = this.pos;
    let low = 0;
    let high = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) throw this.error('truncated varint', start);
      const b = this.bytes[this.pos++] as number;
      // The first 7 bytes (49 bits) fit a double exactly; only longer varints pay for BigInt.
      if (i < 7) low += (b & 0x7f) * 2 ** (7 * i);
      else high |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        const value = BigInt(low) | high;
        if (value >= 1n << 64n) throw this.error('varint overflows 64 bits', start);
        return value;
      }
    }
    throw this.error('varint longer than 10 bytes', start);
  }

  /** A varint that must fit a JavaScript safe integer (tags, lengths). */
  safeVarint(what: string): number {
    const start = this.pos;
    const v = this.varint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error(`${what} ${v} is too large`, start);
    return Number(v);
  }

  take(n: number, what: string): Uint8Array {
    if (n > this.bytes.length - this.pos) {
      throw this.error(
        `${what} of ${n} bytes runs past the end (${this.bytes.length - this.pos} left)`,
        this.pos,
      );
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Reads one field; undefined for a group, which is skipped (ONNX has none, other tools might). */
  field(depth = 0): { field: number; value: WireValue | undefined } {
    const tagOffset = this.pos;
    const tag = this.safeVarint('tag');
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw this.error('field number 0 is not allowed', tagOffset);
    const offset = this.base + this.pos;
    switch (wire) {
      case WireType.Varint:
        return { field, value: { wire, value: this.varint(), offset } };
      case WireType.Fixed64:
        return { field, value: { wire, bytes: this.take(8, 'fixed64'), offset } };
      case WireType.LengthDelimited: {
        const length = this.safeVarint('length');
        return {
          field,
          value: { wire, bytes: this.take(length, `field ${field}`), offset: this.base + this.pos - length },
        };
      }
      case WireType.Fixed32:
        return { field, value: { wire, bytes: this.take(4, 'fixed32'), offset } };
      case WireType.StartGroup:
        this.skipGroup(field, depth + 1, tagOffset);
        return { field, value: undefined };
      default:
        throw this.error(
          `field ${field} has ${wire === 4 ? 'an unmatched end-group' : `invalid wire type ${wire}`}`,
          tagOffset,
        );
    }
  }

  private skipGroup(field: number, depth: number, start: number): void {
    if (depth > MAX_GROUP_DEPTH) throw this.error('groups nested too deeply', start);
    for (;;) {
      if (this.done) throw this.error(`group ${field} is not closed`, start);
      const at = this.pos;
      const tag = this.safeVarint('tag');
      if (tag % 8 === WireType.EndGroup) {
        if (Math.floor(tag / 8) !== field)
          throw this.error(`group ${field} closed as ${Math.floor(tag / 8)}`, at);
        return;
      }
      this.pos = at;
      this.field(depth);
    }
  }

  error(message: string, localOffset: number): ProtobufDecodeError {
    return new ProtobufDecodeError(message, this.base + localOffset);
  }
}

/**
 * One decoded message. Accessors follow protobuf's rules: the last occurrence of a singular
 * scalar wins, repeated scalars may come packed or not, and occurrences of an embedded
 * message merge (decoding their concatenation is exactly that merge).
 */
export class ProtoMessage {
  private constructor(
    private readonly fields: ReadonlyMap<number, readonly WireValue[]>,
    /** Where this message sits, e.g. `ModelProto.graph.node[3]`, for error messages. */
    readonly path: string,
  ) {}

  static decode(bytes: Uint8Array, path: string, base = 0): ProtoMessage {
    const reader = new ProtoReader(bytes, base);
    const fields = new Map<number, WireValue[]>();
    while (!reader.done) {
      const { field, value } = reader.field();
      if (value === undefined) continue;
      const list = fields.get(field);
      if (list) list.push(value);
      else fields.set(field, [value]);
    }
    return new ProtoMessage(fields, path);
  }

  has(field: number): boolean {
    return this.fields.has(field);
  }

  /** Field numbers present, for tools that want to see what they skipped. */
  fieldNumbers(): number[] {
    return [...this.fields.keys()].sort((a, b) => a - b);
  }

  /** A varint as a signed 64-bit integer (int64/int32/enum), or undefined when absent. */
  int(field: number, name: string): number | undefined {
    const v = this.last(field);
    if (v === undefined) return undefined;
    if (v.wire !== WireType.Varint) throw this.wrongWire(name, 'a varint', v);
    return Number(BigInt.asIntN(64, v.value));
  }

  string(field: number, name: string): string | undefined {
    const v = this.last(field);
    return v === undefined ? undefined : this.decodeString(v, name);
  }

  strings(field: number, name: string): string[] {
    return (this.fields.get(field) ?? []).map((v) => this.decodeString(v, name));
  }

  bytes(field: number, name: string): Uint8Array | undefined {
    const v = this.last(field);
    if (v === undefined) return undefined;
    if (v.wire !== WireType.LengthDelimited) throw this.wrongWire(name, 'bytes', v);
    return v.bytes;
  }

  message(field: number, name: string): ProtoMessage | undefined {
    const all = this.fields.get(field);
    if (all === undefined) return undefined;
    const parts = all.map((v) => this.lengthDelimited(v, name));
    if (parts.length === 1)
      return ProtoMessage.decode(parts[0] as Uint8Array, `${this.path}.${name}`, all[0]?.offset);
    const merged = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      merged.set(p, at);
      at += p.length;
    }
    return ProtoMessage.decode(merged, `${this.path}.${name}`, all[0]?.offset);
  }

  messages(field: number, name: string): ProtoMessage[] {
    return (this.fields.get(field) ?? []).map((v, i) =>
      ProtoMessage.decode(this.lengthDelimited(v, name), `${this.path}.${name}[${i}]`, v.offset),
    );
  }

  /** Repeated int64/int32, packed or not (parsers must accept both, whatever the .proto says). */
  ints(field: number, name: string): number[] {
    const out: number[] = [];
    for (const v of this.fields.get(field) ?? []) {
      if (v.wire === WireType.Varint) {
        out.push(Number(BigInt.asIntN(64, v.value)));
      } else if (v.wire === WireType.LengthDelimited) {
        const r = new ProtoReader(v.bytes, v.offset);
        while (!r.done) out.push(Number(BigInt.asIntN(64, r.varint())));
      } else {
        throw this.wrongWire(name, 'varints', v);
      }
    }
    return out;
  }

  /** Repeated float, packed or not. */
  floats(field: number, name: string): number[] {
    const out: number[] = [];
    for (const v of this.fields.get(field) ?? []) {
      if (v.wire === WireType.Varint) throw this.wrongWire(name, 'fixed32 floats', v);
      const view = new DataView(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength);
      if (v.wire === WireType.Fixed32) {
        out.push(view.getFloat32(0, true));
      } else if (v.wire === WireType.LengthDelimited && v.bytes.length % 4 === 0) {
        for (let i = 0; i < v.bytes.length; i += 4) out.push(view.getFloat32(i, true));
      } else {
        throw this.wrongWire(name, 'fixed32 floats', v);
      }
    }
    return out;
  }

  /** A singular float (fixed32). */
  float(field: number, name: string): number | undefined {
    const v = this.last(field);
    if (v === undefined) return undefined;
    if (v.wire !== WireType.Fixed32) throw this.wrongWire(name, 'a fixed32 float', v);
    return new DataView(v.bytes.buffer, v.bytes.byteOffset, 4).getFloat32(0, true);
  }

  private last(field: number): WireValue | undefined {
    return this.fields.get(field)?.at(-1);
  }

  private lengthDelimited(v: WireValue, name: string): Uint8Array {
    if (v.wire !== WireType.LengthDelimited) throw this.wrongWire(name, 'an embedded message', v);
    return v.bytes;
  }

  private decodeString(v: WireValue, name: string): string {
    if (v.wire !== WireType.LengthDelimited) throw this.wrongWire(name, 'a string', v);
    try {
      return textDecoder.decode(v.bytes);
    } catch {
      throw new ProtobufDecodeError(`${this.path}.${name} is not valid UTF-8`, v.offset);
    }
  }

  private wrongWire(name: string, expected: string, v: WireValue): ProtobufDecodeError {
    return new ProtobufDecodeError(
      `${this.path}.${name} should be ${expected} but has wire type ${v.wire}`,
      v.offset,
    );
  }
}

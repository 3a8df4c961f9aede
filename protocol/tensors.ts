import * as crypto from 'node:crypto';

/**
 * The tensor bytes a receipt's inputDigest and outputDigest commit to (docs/protocol.md §4.2),
 * and that a spot-check reveal carries.
 *
 *   input bytes   the model input exactly as handed to onnxruntime: rows × width values,
 *                 row-major, each in the tensor's element type, little-endian
 *   output bytes  every output of the graph, in the byte order of the output names' UTF-8
 *                 (so the runtime's ordering does not matter), each tensor's elements
 *                 little-endian, concatenated
 *
 * Both digests are plain sha256 over those bytes.
 */
export interface TensorLike {
  readonly data: ArrayLike<number | bigint> & ArrayBufferView;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The bytes of one typed array, little-endian, without copying where the host already is. */
export function tensorBytes(data: ArrayBufferView): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return view;
  const width = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
  const out = new Uint8Array(view.length);
  for (let i = 0; i < view.length; i += width) {
    for (let b = 0; b < width; b++) out[i + b] = view[i + width - 1 - b] as number;
  }
  return out;
}

/** Output names in the order their bytes are concatenated. */
export function outputOrder(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

// A model answers with the same names on every call: the inference path sorts them once.
let lastNames: readonly string[] = [];
let lastOrder: readonly string[] = [];

function cachedOrder(names: readonly string[]): readonly string[] {
  if (names.length !== lastNames.length || names.some((n, i) => n !== lastNames[i])) {
    lastOrder = outputOrder(names);
    lastNames = names;
  }
  return lastOrder;
}

/** The concatenated output bytes (see the module comment). */
export function outputBytes(outputs: Readonly<Record<string, TensorLike>>): Uint8Array {
  const order = cachedOrder(Object.keys(outputs));
  if (!LITTLE_ENDIAN) return Buffer.concat(order.map((n) => tensorBytes((outputs[n] as TensorLike).data)));
  let length = 0;
  for (const name of order) length += (outputs[name] as TensorLike).data.byteLength;
  // One copy, no intermediate views; small outputs come from Buffer's pool, not a fresh ArrayBuffer.
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (const name of order) {
    const { data } = outputs[name] as TensorLike;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

// crypto.hash (Node ≥ 20.12) skips the Hash object createHash builds for every digest; the
// namespace import keeps older Node 20 releases, which lack it, loading this module.
const oneShot = typeof crypto.hash === 'function';

export function sha256(bytes: Uint8Array): Uint8Array {
  const digest = oneShot
    ? crypto.hash('sha256', bytes, 'buffer')
    : crypto.createHash('sha256').update(bytes).digest();
  return new Uint8Array(digest);
}

export function inputDigest(input: ArrayBufferView): Uint8Array {
  return sha256(tensorBytes(input));
}

export function outputDigest(outputs: Readonly<Record<string, TensorLike>>): Uint8Array {
  const h = crypto.createHash('sha256');
  for (const name of cachedOrder(Object.keys(outputs))) {
    h.update(tensorBytes((outputs[name] as TensorLike).data));
  }
  return new Uint8Array(h.digest());
}

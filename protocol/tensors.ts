import { createHash } from 'node:crypto';

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

/** The concatenated output bytes (see the module comment). */
export function outputBytes(outputs: Readonly<Record<string, TensorLike>>): Uint8Array {
  const parts = outputOrder(Object.keys(outputs)).map((name) =>
    tensorBytes((outputs[name] as TensorLike).data),
  );
  return Buffer.concat(parts);
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export function inputDigest(input: ArrayBufferView): Uint8Array {
  return sha256(tensorBytes(input));
}

export function outputDigest(outputs: Readonly<Record<string, TensorLike>>): Uint8Array {
  const hash = createHash('sha256');
  for (const name of outputOrder(Object.keys(outputs))) {
    hash.update(tensorBytes((outputs[name] as TensorLike).data));
  }
  return new Uint8Array(hash.digest());
}

import { MAX_TENSOR_BYTES } from '../../protocol/reveal.js';
import type { RetainedTensors } from './retention-types.js';

/**
 * The record layout of a tensor segment (the storage is described in retention.ts):
 *
 *   receiptId (32) | sequence (u64 BE) | inputLen (u32 BE) | outputLen (u32 BE) | input | output
 *
 * Pure: encodes into, and reads from, buffers the caller owns.
 */
export const ID_BYTES = 32;
export const RECORD_HEADER_BYTES = ID_BYTES + 8 + 4 + 4;
const TWO_32 = 0x1_0000_0000;

/** Records put but not written yet: a slice of one segment. */
export interface Chunk {
  readonly buf: Buffer;
  used: number;
  records: number;
}

export function recordBytes(input: Uint8Array, output: Uint8Array): number {
  return RECORD_HEADER_BYTES + input.length + output.length;
}

/** Encodes one record at the end of `chunk`, which must have room for it. */
export function writeRecord(
  chunk: Chunk,
  receiptId: Uint8Array,
  sequence: number,
  input: Uint8Array,
  output: Uint8Array,
): void {
  const b = chunk.buf;
  const at = chunk.used;
  b.set(receiptId, at);
  b.writeUInt32BE(Math.floor(sequence / TWO_32), at + ID_BYTES);
  b.writeUInt32BE(sequence >>> 0, at + ID_BYTES + 4);
  b.writeUInt32BE(input.length, at + ID_BYTES + 8);
  b.writeUInt32BE(output.length, at + ID_BYTES + 12);
  b.set(input, at + RECORD_HEADER_BYTES);
  b.set(output, at + RECORD_HEADER_BYTES + input.length);
  chunk.used += recordBytes(input, output);
  chunk.records++;
}

interface RecordAt {
  readonly at: number;
  readonly sequence: number;
  readonly inputLength: number;
  readonly outputLength: number;
}

/** Walks the whole records of a segment; stops at a torn (or corrupt) one, which must be the last. */
function* records(data: Buffer): Generator<RecordAt> {
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= data.length) {
    const sequence = data.readUInt32BE(at + ID_BYTES) * TWO_32 + data.readUInt32BE(at + ID_BYTES + 4);
    const inputLength = data.readUInt32BE(at + ID_BYTES + 8);
    const outputLength = data.readUInt32BE(at + ID_BYTES + 12);
    if (inputLength > MAX_TENSOR_BYTES || outputLength > MAX_TENSOR_BYTES) return;
    const end = at + RECORD_HEADER_BYTES + inputLength + outputLength;
    if (end > data.length) return;
    yield { at, sequence, inputLength, outputLength };
    at = end;
  }
}

export function findRecord(
  data: Buffer,
  receiptId: Uint8Array,
  sequence: number,
): RetainedTensors | undefined {
  for (const r of records(data)) {
    if (r.sequence !== sequence || data.compare(receiptId, 0, ID_BYTES, r.at, r.at + ID_BYTES) !== 0)
      continue;
    const inputAt = r.at + RECORD_HEADER_BYTES;
    // Copies: the caller keeps them while the segment's bytes (or chunk) go.
    return {
      input: new Uint8Array(data.subarray(inputAt, inputAt + r.inputLength)),
      output: new Uint8Array(
        data.subarray(inputAt + r.inputLength, inputAt + r.inputLength + r.outputLength),
      ),
    };
  }
  return undefined;
}

export function scanRecords(data: Buffer): {
  records: number;
  lastSeq: number | undefined;
  tornBytes: number;
} {
  let count = 0;
  let lastSeq: number | undefined;
  let end = 0;
  for (const r of records(data)) {
    count++;
    lastSeq = Math.max(lastSeq ?? r.sequence, r.sequence);
    end = r.at + RECORD_HEADER_BYTES + r.inputLength + r.outputLength;
  }
  return { records: count, lastSeq, tornBytes: data.length - end };
}

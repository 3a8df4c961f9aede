/**
 * Key layout and record codecs of the outbox store (one ClassicLevel, utf8 keys, byte values).
 *
 *   r!<seq, 16 hex digits>   appendedAtMs (8 bytes, big-endian) ‖ receipt body
 *   i!<receipt id hex>       the receipt's r! key (utf8): makes append idempotent
 *   m!nextSeq                next receipt sequence (decimal utf8)
 *   m!nextBatch              next batch sequence (decimal utf8)
 *   m!inflight               the cut, signed, not yet acknowledged batch (JSON utf8)
 *   m!lastAck                Unix epoch ms of the last acknowledgement (decimal utf8)
 *
 * Fixed-width hex sequence keys sort lexicographically in append order.
 */
export const RECEIPT_PREFIX = 'r!';
export const RECEIPT_RANGE = { gt: 'r!', lt: 'r"' } as const;
export const INDEX_PREFIX = 'i!';
export const META_NEXT_SEQ = 'm!nextSeq';
export const META_NEXT_BATCH = 'm!nextBatch';
export const META_IN_FLIGHT = 'm!inflight';
export const META_LAST_ACK = 'm!lastAck';

const SEQ_WIDTH = 16;
export const RECORD_TIME_BYTES = 8;
const TIME_BYTES = RECORD_TIME_BYTES;
const TWO_32 = 0x1_0000_0000;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export function receiptKey(seq: number): string {
  return RECEIPT_PREFIX + seq.toString(16).padStart(SEQ_WIDTH, '0');
}

export function sequenceOfKey(key: string): number {
  return Number.parseInt(key.slice(RECEIPT_PREFIX.length), 16);
}

export function indexKey(id: Uint8Array): string {
  // A view, not Buffer.from(id), which would copy the id first.
  return INDEX_PREFIX + Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

/**
 * The r! value. Written on the inference path for every receipt: two 32-bit halves rather than
 * a DataView and a BigInt, and the bytes from Buffer's pool rather than a fresh ArrayBuffer.
 */
export function encodeReceiptRecord(appendedAtMs: number, body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(TIME_BYTES + body.length);
  out.writeUInt32BE(Math.floor(appendedAtMs / TWO_32), 0);
  out.writeUInt32BE(appendedAtMs >>> 0, 4);
  out.set(body, TIME_BYTES);
  return out;
}

export function decodeReceiptRecord(value: Uint8Array): { appendedAtMs: number; body: Uint8Array } {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return { appendedAtMs: b.readUInt32BE(0) * TWO_32 + b.readUInt32BE(4), body: value.slice(TIME_BYTES) };
}

/** Bytes a stored receipt costs in the budget: both of its records, keys included. */
export function receiptCost(key: string, id: Uint8Array, bodyBytes: number): number {
  // The index key is the prefix and the id in hex; its length is known without writing the hex.
  return key.length + TIME_BYTES + bodyBytes + INDEX_PREFIX.length + 2 * id.length + key.length;
}

export function encodeNumber(n: number): Uint8Array {
  return utf8.encode(String(n));
}

export function decodeNumber(value: Uint8Array | undefined): number | undefined {
  return value === undefined ? undefined : Number(fromUtf8.decode(value));
}

/** The in-flight batch exactly as cut, so a restart re-sends the same bytes. */
export interface InFlightBatch {
  readonly batchSequence: number;
  readonly submission: Uint8Array;
  readonly headerHash: Uint8Array;
  readonly receiptKeys: readonly string[];
  readonly receiptIds: readonly Uint8Array[];
  /**
   * Body lengths of the receipts, known when the batch was cut in this process (not stored:
   * after a restart the acknowledgement reads the records for them).
   */
  readonly bodyBytes?: readonly number[];
}

interface InFlightJson {
  batchSequence: number;
  submission: string;
  headerHash: string;
  receiptKeys: string[];
  receiptIds: string[];
}

export function encodeInFlight(batch: InFlightBatch): Uint8Array {
  const json: InFlightJson = {
    batchSequence: batch.batchSequence,
    submission: Buffer.from(batch.submission).toString('base64'),
    headerHash: Buffer.from(batch.headerHash).toString('hex'),
    receiptKeys: [...batch.receiptKeys],
    receiptIds: batch.receiptIds.map((id) => Buffer.from(id).toString('hex')),
  };
  return utf8.encode(JSON.stringify(json));
}

export function decodeInFlight(value: Uint8Array): InFlightBatch {
  const json = JSON.parse(fromUtf8.decode(value)) as InFlightJson;
  return {
    batchSequence: json.batchSequence,
    submission: new Uint8Array(Buffer.from(json.submission, 'base64')),
    headerHash: new Uint8Array(Buffer.from(json.headerHash, 'hex')),
    receiptKeys: json.receiptKeys,
    receiptIds: json.receiptIds.map((hex) => new Uint8Array(Buffer.from(hex, 'hex'))),
  };
}

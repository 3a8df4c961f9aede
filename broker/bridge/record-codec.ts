/**
 * The bytes of the bridge's store: segment files of length-prefixed, checksummed records.
 * Pure: no I/O, so recovery's decisions (where a torn tail starts) are unit-testable.
 *
 *   segment = MAGIC (8 bytes) record*
 *   record  = bodyLength u32le | crc32(body) u32le | body
 *   body    = flags u8 (bits 0-1 QoS, bit 2 retain) | topicLength u16le | topic (UTF-8) | payload
 *
 * A record's sequence number is not written: it is the segment's first sequence number (in
 * its file name) plus the record's index, so a record costs 11 bytes plus topic and payload.
 */

/** "FMBRIDG" + format version 1. A file without it is not ours (or its creation was torn). */
export const SEGMENT_MAGIC = Buffer.from('FMBRIDG\x01', 'latin1');
export const RECORD_HEADER_BYTES = 8;
const BODY_FIXED_BYTES = 3;
export const MAX_TOPIC_BYTES = 0xffff;

export interface BridgeRecord {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
}

/** What a scan of a segment's bytes found: whole records up to `validEnd`, and why it stopped early. */
export interface SegmentScan {
  records: BridgeRecord[];
  /** Byte offset just past the last whole, intact record (at least the magic's length when it is intact). */
  validEnd: number;
  /** Null when every byte was a whole intact record; otherwise what was found at `validEnd`. */
  problem: string | null;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, the one zlib and PNG use). */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Bytes `record` takes on disk, header included. */
export function encodedSize(record: BridgeRecord): number {
  return (
    RECORD_HEADER_BYTES + BODY_FIXED_BYTES + Buffer.byteLength(record.topic, 'utf8') + record.payload.length
  );
}

/** One record, header and body; throws RangeError for a topic longer than MQTT allows. */
export function encodeRecord(record: BridgeRecord): Buffer {
  const topic = Buffer.from(record.topic, 'utf8');
  if (topic.length > MAX_TOPIC_BYTES)
    throw new RangeError(`topic is ${topic.length} bytes; MQTT allows 65535`);
  const bodyLength = BODY_FIXED_BYTES + topic.length + record.payload.length;
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyLength);
  const body = out.subarray(RECORD_HEADER_BYTES);
  body.writeUInt8(record.qos | (record.retain ? 4 : 0), 0);
  body.writeUInt16LE(topic.length, 1);
  topic.copy(body, BODY_FIXED_BYTES);
  record.payload.copy(body, BODY_FIXED_BYTES + topic.length);
  out.writeUInt32LE(bodyLength, 0);
  out.writeUInt32LE(crc32(body), 4);
  return out;
}

/**
 * Decodes the records in `bytes` (a whole segment when `withMagic`, else a run of records),
 * stopping at the first one that is cut short, fails its checksum, or is longer than
 * `maxBodyBytes`. Never throws: a corrupt byte is reported, not raised.
 */
export function scanRecords(
  bytes: Buffer,
  options: { withMagic: boolean; maxBodyBytes: number },
): SegmentScan {
  const records: BridgeRecord[] = [];
  let offset = 0;
  if (options.withMagic) {
    if (
      bytes.length < SEGMENT_MAGIC.length ||
      !bytes.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)
    ) {
      return { records, validEnd: 0, problem: 'the segment header is missing or not a bridge segment' };
    }
    offset = SEGMENT_MAGIC.length;
  }
  while (offset < bytes.length) {
    const problem = recordProblem(bytes, offset, options.maxBodyBytes);
    if (problem !== null) return { records, validEnd: offset, problem };
    const bodyLength = bytes.readUInt32LE(offset);
    records.push(
      decodeBody(bytes.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + bodyLength)),
    );
    offset += RECORD_HEADER_BYTES + bodyLength;
  }
  return { records, validEnd: offset, problem: null };
}

/** Why the record at `offset` is not whole and intact, or null. */
function recordProblem(bytes: Buffer, offset: number, maxBodyBytes: number): string | null {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return 'a record header is cut short';
  const bodyLength = bytes.readUInt32LE(offset);
  if (bodyLength < BODY_FIXED_BYTES || bodyLength > maxBodyBytes) {
    return `a record claims ${bodyLength} bytes, outside 3..${maxBodyBytes}`;
  }
  const end = offset + RECORD_HEADER_BYTES + bodyLength;
  if (end > bytes.length) return 'a record is cut short';
  const body = bytes.subarray(offset + RECORD_HEADER_BYTES, end);
  if (crc32(body) !== bytes.readUInt32LE(offset + 4)) return 'a record fails its checksum';
  const flags = body.readUInt8(0);
  if ((flags & ~0b111) !== 0 || (flags & 3) > 1) return `a record has unknown flags 0x${flags.toString(16)}`;
  if (BODY_FIXED_BYTES + body.readUInt16LE(1) > bodyLength) return 'a record topic runs past its body';
  return null;
}

function decodeBody(body: Buffer): BridgeRecord {
  const flags = body.readUInt8(0);
  const topicLength = body.readUInt16LE(1);
  return {
    qos: (flags & 3) as 0 | 1,
    retain: (flags & 4) !== 0,
    topic: body.toString('utf8', BODY_FIXED_BYTES, BODY_FIXED_BYTES + topicLength),
    // A copy: the caller's buffer (a whole segment read) should not be kept alive by one message.
    payload: Buffer.from(body.subarray(BODY_FIXED_BYTES + topicLength)),
  };
}

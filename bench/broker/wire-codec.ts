/**
 * The few MQTT 3.1.1 packets the broker suite's load generator speaks (§3: CONNECT, CONNACK,
 * SUBSCRIBE, SUBACK, PUBLISH, PUBACK, DISCONNECT), encoded and decoded by hand: cheaper per
 * message than a general client, so the generator stays ahead of the brokers it loads. Pure.
 */

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBACK = 9;

/** Bytes of the Remaining Length field for `n` (§2.2.3). */
function lengthBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function writeLength(buf: Buffer, at: number, n: number): number {
  let rest = n;
  let i = at;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    buf[i++] = byte;
  } while (rest > 0);
  return i;
}

function packet(first: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(1 + lengthBytes(body.length) + body.length);
  out[0] = first;
  body.copy(out, writeLength(out, 1, body.length));
  return out;
}

function utf8(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

/** CONNECT with a clean session, no will, no keepalive (§3.1.2.10: 0 turns it off). */
export function encodeConnect(who: { clientId: string; username: string; password: string }): Buffer {
  const header = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x80 | 0x40 | 0x02, 0, 0]);
  return packet(0x10, Buffer.concat([header, utf8(who.clientId), utf8(who.username), utf8(who.password)]));
}

export function encodeSubscribe(id: number, filter: string, qos: number): Buffer {
  const idBytes = Buffer.allocUnsafe(2);
  idBytes.writeUInt16BE(id, 0);
  // §3.8.1: SUBSCRIBE's fixed header flags are 0010.
  return packet(0x82, Buffer.concat([idBytes, utf8(filter), Buffer.from([qos])]));
}

/** A topic name ready to splice into PUBLISH packets: its length prefix and bytes. */
export function encodeTopic(topic: string): Buffer {
  return utf8(topic);
}

/** PUBLISH of `payload` to an encoded topic; `id` is used at QoS 1 only. */
export function encodePublish(topic: Buffer, payload: Buffer, qos: 0 | 1, id: number): Buffer {
  const body = topic.length + (qos > 0 ? 2 : 0) + payload.length;
  const out = Buffer.allocUnsafe(1 + lengthBytes(body) + body);
  out[0] = 0x30 | (qos << 1);
  let at = writeLength(out, 1, body);
  at += topic.copy(out, at);
  if (qos > 0) at = out.writeUInt16BE(id, at);
  payload.copy(out, at);
  return out;
}

export function encodePuback(id: number): Buffer {
  return Buffer.from([0x40, 2, id >> 8, id & 0xff]);
}

export const DISCONNECT = Buffer.from([0xe0, 0]);

export interface Packet {
  type: number;
  /** The fixed header's low four bits (PUBLISH: DUP, QoS, RETAIN). */
  flags: number;
  body: Buffer;
}

/**
 * Splits a byte stream into packets. `push` returns the packets completed by the chunk; a
 * partial packet waits for the next chunk.
 */
export class PacketSplitter {
  private pending: Buffer | null = null;

  push(chunk: Buffer): Packet[] {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Packet[] = [];
    let at = 0;
    for (;;) {
      if (buf.length - at < 2) break;
      let length = 0;
      let multiplier = 1;
      let i = at + 1;
      let complete = false;
      while (i < buf.length && i < at + 5) {
        const byte = buf[i++] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (i >= at + 5) throw new Error('malformed Remaining Length from the broker');
        break;
      }
      if (buf.length - i < length) break;
      const first = buf[at] as number;
      out.push({ type: first >> 4, flags: first & 0x0f, body: buf.subarray(i, i + length) });
      at = i + length;
    }
    this.pending = at === buf.length ? null : buf.subarray(at);
    return out;
  }
}

/** The parts of a PUBLISH the subscriber needs. */
export function decodePublish(p: Packet): { qos: number; id: number; payload: Buffer } {
  const qos = (p.flags >> 1) & 3;
  const topicLength = p.body.readUInt16BE(0);
  let at = 2 + topicLength;
  let id = 0;
  if (qos > 0) {
    id = p.body.readUInt16BE(at);
    at += 2;
  }
  return { qos, id, payload: p.body.subarray(at) };
}

/**
 * A bound on the size of the MQTT packets a client may send. aedes has no such setting: its
 * parser (mqtt-packet) buffers a packet whole, up to the protocol's 256 MB, before handing it
 * on. The guard checks the Remaining Length as soon as the fixed header is parsed, before the
 * body arrives, and fails the parse; aedes then closes that client's connection.
 *
 * It wraps one method of the client's parser instance (`_parseLength`, mqtt-packet 9). If a
 * later version renames it, `guardPacketSize` returns false and the broker logs that the limit
 * is not enforced; test/broker/bad-input.test.ts catches that on upgrade.
 */

interface ParserLike {
  packet: { length: number; cmd?: string };
  _parseLength: () => boolean;
  _emitError: (err: Error) => void;
}

export class PacketTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
    cmd: string | undefined,
  ) {
    super(
      `${cmd ?? 'packet'} of ${size} bytes exceeds the broker's maximum of ${limit} bytes ` +
        '(broker.limits.maxPacketBytes); the connection is closed',
    );
    this.name = 'PacketTooLargeError';
  }
}

/** Installs the limit on one aedes client; false when the parser is not the expected shape. */
export function guardPacketSize(client: unknown, maxBytes: number): boolean {
  const parser = (client as { _parser?: Partial<ParserLike> })._parser;
  if (
    parser === undefined ||
    typeof parser._parseLength !== 'function' ||
    typeof parser._emitError !== 'function'
  ) {
    return false;
  }
  const p = parser as ParserLike;
  const parseLength = p._parseLength;
  p._parseLength = function guardedParseLength(this: ParserLike): boolean {
    const ok = parseLength.call(this);
    if (ok && this.packet.length > maxBytes) {
      this._emitError(new PacketTooLargeError(this.packet.length, maxBytes, this.packet.cmd));
      return false;
    }
    return ok;
  };
  return true;
}

import tahu from 'sparkplug-payload/lib/sparkplugPayloadProto.js';
import { describe, expect, it } from 'vitest';
import {
  datatypeName,
  decodeSparkplug,
  encodeSparkplugPayload,
  isRebirthCommand,
  rebirthCommand,
} from '../../../agent/ingest/sparkplug-codec.js';

const P = tahu.org.eclipse.tahu.protobuf.Payload;

describe('Sparkplug B codec (Eclipse Tahu)', () => {
  it('round-trips the Rebirth command a host sends', () => {
    const bytes = rebirthCommand(1_700_000_000_000);
    expect(isRebirthCommand(bytes)).toBe(true);
    const msg = decodeSparkplug(bytes);
    expect(msg).toMatchObject({ seq: undefined, timestamp: 1_700_000_000_000 });
  });

  it('reads a Rebirth command without a datatype, and refuses Rebirth = false or other metrics', () => {
    const bare = P.encode(
      P.create({ metrics: [P.Metric.create({ name: 'Node Control/Rebirth', booleanValue: true })] }),
    );
    expect(isRebirthCommand(bare.finish())).toBe(true);
    const no = encodeSparkplugPayload({
      metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: false }],
    });
    expect(isRebirthCommand(no)).toBe(false);
    const other = encodeSparkplugPayload({
      metrics: [{ name: 'Node Control/Reboot', type: 'Boolean', value: true }],
    });
    expect(isRebirthCommand(other)).toBe(false);
  });

  it("returns the codec's complaint for bytes that are not Sparkplug B", () => {
    expect(isRebirthCommand(new TextEncoder().encode('{"rebirth": true}'))).toEqual(expect.any(String));
    expect(decodeSparkplug(new Uint8Array([0x0a, 0xff]))).toEqual(expect.any(String));
  });

  it('names datatypes for messages', () => {
    expect(datatypeName(10)).toBe('Double');
    expect(datatypeName(12)).toBe('String');
    expect(datatypeName(99)).toBe('datatype 99');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeCbor } from '../../protocol/cbor.js';
import { identityFromSeed } from '../../protocol/identity.js';
import {
  decodeNodeRecord,
  decodeSignedNodeRecord,
  encodeNodeRecord,
  encodeSignedNodeRecord,
  MAX_MODELS,
  NODE_RECORD_DOMAIN_TAG,
  NodeRecordError,
  type NodeRecordFields,
  signNodeRecord,
  verifyNodeRecord,
} from '../../protocol/node-record.js';
import { sign } from '../../protocol/signatures.js';

const node = identityFromSeed(new Uint8Array(32).fill(3));
const other = identityFromSeed(new Uint8Array(32).fill(4));
const NOW = 1_790_000_000_000;
const check = { peerId: node.peerId, nowMs: NOW, maxSkewMs: 60_000 };

function record(overrides: Partial<NodeRecordFields> = {}): NodeRecordFields {
  return {
    publicKey: node.publicKey,
    name: 'press-line-3',
    softwareVersion: '0.1.0',
    issuedAtMs: NOW,
    apiUrl: 'http://10.0.0.2:8721',
    brokerUrl: 'mqtt://10.0.0.2:1883',
    brokerPriority: 10,
    offloadSlots: 2,
    loadPermille: 1250,
    models: [{ id: 'vibration-ae', version: '3', sha256: new Uint8Array(32).fill(0xab), computeUs: 22 }],
    ...overrides,
  };
}

function failure(fn: () => unknown): NodeRecordError {
  try {
    fn();
  } catch (err) {
    if (err instanceof NodeRecordError) return err;
    throw err;
  }
  throw new Error('expected a NodeRecordError, but the record was accepted');
}

describe('signed node records', () => {
  it('round-trips through the wire form and verifies against the announced PeerId', () => {
    const wire = encodeSignedNodeRecord(signNodeRecord(record(), node.secretKey));
    const fields = verifyNodeRecord(decodeSignedNodeRecord(wire), check);
    expect(fields).toEqual(record());
  });

  it('is a canonical CBOR array: version first, then the fields in wire order', () => {
    const bytes = encodeNodeRecord(record({ brokerUrl: '' }));
    const decoded = decodeCbor(bytes) as unknown[];
    expect(decoded).toHaveLength(11);
    expect(decoded.slice(0, 3)).toEqual([1, node.publicKey, 'press-line-3']);
    expect(decoded[6]).toBe('');
    expect(encodeCbor(decodeCbor(bytes))).toEqual(bytes);
  });

  it('matches the byte layout documented in docs/mesh.md §2', () => {
    const hex = Buffer.from(encodeNodeRecord(record({ brokerUrl: '' }))).toString('hex');
    expect(hex).toBe(
      '8b015820ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d16c70726573732d6c696e652d33' +
        '65302e312e301b000001a0c4506c0074687474703a2f2f31302e302e302e323a38373231600a021904e281846c7669627261' +
        '74696f6e2d616561335820abababababababababababababababababababababababababababababababab16',
    );
  });

  it('signs tag ‖ 0x00 ‖ recordBytes with the node key', () => {
    const signed = signNodeRecord(record(), node.secretKey);
    expect(signed.signature).toEqual(sign(NODE_RECORD_DOMAIN_TAG, signed.recordBytes, node.secretKey));
  });

  it('refuses a record whose key is not the one inside the announced PeerId (spoofing)', () => {
    const byOther = signNodeRecord(record({ publicKey: other.publicKey }), other.secretKey);
    const err = failure(() => verifyNodeRecord(byOther, check));
    expect(err.code).toBe('NODE_RECORD_KEY_MISMATCH');
    expect(err.reason).toBe('spoofed');
    expect(err.message).toContain(node.peerId);
  });

  it('refuses a record whose signature was made by another key', () => {
    const bytes = encodeNodeRecord(record());
    const forged = { recordBytes: bytes, signature: sign(NODE_RECORD_DOMAIN_TAG, bytes, other.secretKey) };
    expect(failure(() => verifyNodeRecord(forged, check)).code).toBe('NODE_RECORD_SIGNATURE_INVALID');
  });

  it('refuses tampered bytes: every single flipped byte is caught', () => {
    const signed = signNodeRecord(record(), node.secretKey);
    for (let i = 0; i < signed.recordBytes.length; i++) {
      const tampered = signed.recordBytes.slice();
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      const err = failure(() => verifyNodeRecord({ ...signed, recordBytes: tampered }, check));
      expect(['NODE_RECORD_INVALID', 'NODE_RECORD_SIGNATURE_INVALID']).toContain(err.code);
    }
  });

  it('refuses records issued too far in the past or the future, saying by how much', () => {
    const old = signNodeRecord(record({ issuedAtMs: NOW - 125_000 }), node.secretKey);
    const stale = failure(() => verifyNodeRecord(old, check));
    expect(stale.code).toBe('NODE_RECORD_STALE');
    expect(stale.message).toContain('125 s');
    const ahead = signNodeRecord(record({ issuedAtMs: NOW + 90_000 }), node.secretKey);
    const future = failure(() => verifyNodeRecord(ahead, check));
    expect(future.code).toBe('NODE_RECORD_FROM_FUTURE');
    expect(future.message).toMatch(/90 s ahead.*NTP/);
    const edge = signNodeRecord(record({ issuedAtMs: NOW - 60_000 }), node.secretKey);
    expect(verifyNodeRecord(edge, check).issuedAtMs).toBe(NOW - 60_000);
  });

  it('names the bad field when encoding or decoding', () => {
    const cases: [Partial<NodeRecordFields>, string][] = [
      [{ name: 'x'.repeat(65) }, 'name'],
      [{ softwareVersion: 7 as unknown as string }, 'softwareVersion'],
      [{ loadPermille: 1.5 }, 'loadPermille'],
      [{ brokerPriority: -1 }, 'brokerPriority'],
      [{ apiUrl: 'h'.repeat(257) }, 'apiUrl'],
      [{ publicKey: new Uint8Array(31) }, 'publicKey'],
      [{ models: Array.from({ length: MAX_MODELS + 1 }, () => record().models[0]!) }, 'models'],
      [{ models: [{ ...record().models[0]!, sha256: new Uint8Array(31) }] }, 'models[0].sha256'],
      [{ models: [{ ...record().models[0]!, id: 'm'.repeat(65) }] }, 'models[0].id'],
    ];
    for (const [bad, field] of cases) {
      const err = failure(() => encodeNodeRecord(record(bad)));
      expect(err.field, field).toBe(field);
      expect(err.message).toContain(field);
    }
    const tooMany = encodeCbor([1, node.publicKey, 'n', 'v', NOW, 'u', '', 0, 0, 0, [], 'extra']);
    expect(failure(() => decodeNodeRecord(tooMany)).field).toBe('body');
    const version2 = encodeCbor([2, node.publicKey, 'n', 'v', NOW, 'u', '', 0, 0, 0, []]);
    expect(failure(() => decodeNodeRecord(version2)).field).toBe('version');
  });

  it('refuses a malformed wire form before looking at the signature', () => {
    expect(failure(() => decodeSignedNodeRecord(Uint8Array.of(0xa0))).field).toBe('body');
    expect(failure(() => decodeSignedNodeRecord(encodeCbor([new Uint8Array(4)]))).field).toBe('body');
    const shortSig = encodeCbor([new Uint8Array(4), new Uint8Array(63)]);
    expect(failure(() => decodeSignedNodeRecord(shortSig)).field).toBe('signature');
    expect(failure(() => decodeSignedNodeRecord(new Uint8Array(20_000))).field).toBe('body');
  });

  it('refuses to sign with a secret key that is not the record key', () => {
    expect(failure(() => signNodeRecord(record(), other.secretKey)).reason).toBe('spoofed');
  });

  it('round-trips any valid record (property)', () => {
    const text = (max: number) => fc.string({ maxLength: max / 4 });
    const uint = fc.nat({ max: Number.MAX_SAFE_INTEGER });
    const model = fc.record({
      id: text(64),
      version: text(32),
      sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      computeUs: uint,
    });
    fc.assert(
      fc.property(
        fc.record({ name: text(64), apiUrl: text(256), brokerUrl: text(256), load: uint, slots: uint }),
        fc.array(model, { maxLength: 4 }),
        (r, models) => {
          const fields = record({
            name: r.name,
            apiUrl: r.apiUrl,
            brokerUrl: r.brokerUrl,
            loadPermille: r.load,
            offloadSlots: r.slots,
            models,
          });
          const wire = encodeSignedNodeRecord(signNodeRecord(fields, node.secretKey));
          expect(verifyNodeRecord(decodeSignedNodeRecord(wire), check)).toEqual(fields);
        },
      ),
      { numRuns: 50 },
    );
  });
});

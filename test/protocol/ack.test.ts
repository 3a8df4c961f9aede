import { describe, expect, it } from 'vitest';
import {
  ACK_DOMAIN_TAG,
  type Ack,
  batchHeaderHash,
  decodeAck,
  encodeAck,
  RECEIPT_STATUS_CODES,
  signAck,
  verifyAck,
} from '../../protocol/ack.js';
import { encodeCbor } from '../../protocol/cbor.js';
import { hasCode } from '../../protocol/errors.js';
import { identityFromSeed } from '../../protocol/identity.js';
import { verify } from '../../protocol/signatures.js';

const service = identityFromSeed(new Uint8Array(32).fill(20));
const impostor = identityFromSeed(new Uint8Array(32).fill(21));
const provider = identityFromSeed(new Uint8Array(32).fill(22));

const ack: Ack = {
  batchHeaderHash: batchHeaderHash(Uint8Array.of(1, 2, 3)),
  providerKey: provider.publicKey,
  receipts: (Object.keys(RECEIPT_STATUS_CODES) as (keyof typeof RECEIPT_STATUS_CODES)[]).map((status, i) => ({
    receiptId: new Uint8Array(32).fill(i),
    status,
  })),
  acceptedAtMs: 1_700_000_000_123,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return hasCode(err, 'ACK_INVALID') || hasCode(err, 'ACK_SIGNATURE_INVALID') ? err.code : 'other';
  }
  return undefined;
}

describe('acknowledgement', () => {
  it('keeps the documented status codes', () => {
    expect(RECEIPT_STATUS_CODES).toEqual({
      valid: 0,
      duplicate: 1,
      equivocation: 2,
      outside_time_window: 3,
      malformed: 4,
      unknown_model: 5,
    });
  });

  it('encodes the documented array and round-trips every status', () => {
    const bytes = encodeAck(ack);
    expect(bytes).toEqual(
      encodeCbor([
        ack.batchHeaderHash,
        ack.providerKey,
        ack.receipts.map((r) => [r.receiptId, RECEIPT_STATUS_CODES[r.status]]),
        ack.acceptedAtMs,
      ]),
    );
    expect(decodeAck(bytes)).toEqual(ack);
  });

  it('signs under the ack domain tag and verifies with the service key', () => {
    const signed = signAck(ack, service.secretKey);
    expect(verify(ACK_DOMAIN_TAG, signed.ackBytes, signed.signature, service.publicKey)).toBe(true);
    expect(verifyAck(signed, service.publicKey)).toEqual(ack);
  });

  it('fails a tampered ack, a wrong key and a signature from another service', () => {
    const signed = signAck(ack, service.secretKey);
    const tampered = signed.ackBytes.slice();
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
    expect(codeOf(() => verifyAck({ ...signed, ackBytes: tampered }, service.publicKey))).toBe(
      'ACK_SIGNATURE_INVALID',
    );
    expect(codeOf(() => verifyAck(signed, impostor.publicKey))).toBe('ACK_SIGNATURE_INVALID');
    const forged = signAck(ack, impostor.secretKey);
    expect(codeOf(() => verifyAck(forged, service.publicKey))).toBe('ACK_SIGNATURE_INVALID');
  });

  it('rejects malformed bodies with ACK_INVALID', () => {
    const h = ack.batchHeaderHash;
    const k = ack.providerKey;
    const id = new Uint8Array(32);
    const bodies = [
      Uint8Array.of(0xff),
      encodeCbor([h, k, [], 1, 2]),
      encodeCbor([h.subarray(1), k, [], 1]),
      encodeCbor([h, k, [[id, 6]], 1]),
      encodeCbor([h, k, [[id]], 1]),
      encodeCbor([h, k, [[id.subarray(1), 0]], 1]),
      encodeCbor([h, k, [], -1]),
    ];
    for (const body of bodies) expect(codeOf(() => decodeAck(body))).toBe('ACK_INVALID');
  });

  it('refuses to encode an unknown status or a bad field', () => {
    const bad = { ...ack, receipts: [{ receiptId: new Uint8Array(32), status: 'bogus' as 'valid' }] };
    expect(codeOf(() => encodeAck(bad))).toBe('ACK_INVALID');
    expect(codeOf(() => encodeAck({ ...ack, acceptedAtMs: 1.5 }))).toBe('ACK_INVALID');
  });
});

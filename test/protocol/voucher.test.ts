import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeCbor } from '../../protocol/cbor.js';
import { identityFromSeed } from '../../protocol/identity.js';
import { sign } from '../../protocol/signatures.js';
import {
  compareVouchers,
  decodeVoucher,
  encodeVoucher,
  signVoucher,
  supersedes,
  VOUCHER_DOMAIN_TAG,
  type Voucher,
  VoucherError,
  verifyVoucher,
} from '../../protocol/voucher.js';

const consumer = identityFromSeed(new Uint8Array(32).fill(7));
const provider = identityFromSeed(new Uint8Array(32).fill(8));

const base: Voucher = {
  consumerKey: consumer.publicKey,
  providerKey: provider.publicKey,
  sessionId: new Uint8Array(16).fill(0xab),
  sequence: 3,
  jobs: 120,
  computeUs: 4_500_000,
  highestReceiptSequence: 119,
  issuedAtMs: 1_763_690_000_000,
};

function voucherError(fn: () => unknown): VoucherError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VoucherError) return err;
    throw err;
  }
  throw new Error('expected a VoucherError');
}

describe('voucher encoding', () => {
  it('encodes the fields as an 8-element array in wire order and decodes back', () => {
    const bytes = encodeVoucher(base);
    expect(decodeCbor(bytes)).toEqual([
      base.consumerKey,
      base.providerKey,
      base.sessionId,
      3,
      120,
      4_500_000,
      119,
      1_763_690_000_000,
    ]);
    expect(decodeVoucher(bytes)).toEqual(base);
  });

  it.each([
    ['consumerKey', new Uint8Array(31)],
    ['providerKey', 'not bytes'],
    ['sessionId', new Uint8Array(32)],
    ['sequence', -1],
    ['jobs', 1.5],
    ['computeUs', 2 ** 53],
    ['highestReceiptSequence', undefined],
    ['issuedAtMs', '1763690000000'],
  ] as const)('rejects a bad %s and names it', (field, value) => {
    const err = voucherError(() => encodeVoucher({ ...base, [field]: value } as unknown as Voucher));
    expect(err.code).toBe('VOUCHER_INVALID');
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
  });

  it('lists every bad field, not only the first', () => {
    const err = voucherError(() =>
      encodeVoucher({ ...base, sessionId: new Uint8Array(1), jobs: -3 } as unknown as Voucher),
    );
    expect(err.problems.map((p) => p.field)).toEqual(['sessionId', 'jobs']);
  });

  it('refuses a voucher where consumer and provider are the same node', () => {
    const err = voucherError(() => encodeVoucher({ ...base, providerKey: base.consumerKey }));
    expect(err.field).toBe('providerKey');
  });

  it('rejects bodies that are not an 8-field canonical array', () => {
    const fields = decodeCbor(encodeVoucher(base)) as unknown[];
    for (const bad of [
      encodeCbor(fields.slice(0, 7) as never),
      encodeCbor([...fields, 0] as never),
      encodeCbor('voucher'),
      Uint8Array.of(0xa0), // a map
      Uint8Array.of(0x98, 0x08, ...encodeVoucher(base).subarray(1)), // non-shortest array head
    ]) {
      const err = voucherError(() => decodeVoucher(bad));
      expect(err.code).toBe('VOUCHER_INVALID');
      expect(err.field).toBe('body');
    }
  });

  it('decodes integer fields only in the safe range', () => {
    const fields = decodeCbor(encodeVoucher(base)) as unknown[];
    fields[5] = 2n ** 60n;
    const err = voucherError(() => decodeVoucher(encodeCbor(fields as never)));
    expect(err.field).toBe('computeUs');
  });
});

describe('voucher signatures', () => {
  it('signs with the consumer key and verifies over the bytes as received', () => {
    const signed = signVoucher(base, consumer.secretKey);
    expect(verifyVoucher(signed)).toEqual(base);
  });

  it('refuses to sign with a key that is not the consumer key', () => {
    const err = voucherError(() => signVoucher(base, provider.secretKey));
    expect(err.code).toBe('VOUCHER_KEY_MISMATCH');
  });

  it('rejects a changed body, a changed signature, and a signature by the provider', () => {
    const signed = signVoucher(base, consumer.secretKey);
    const other = encodeVoucher({ ...base, jobs: base.jobs + 1 });
    expect(voucherError(() => verifyVoucher({ ...signed, voucherBytes: other })).code).toBe(
      'VOUCHER_SIGNATURE_INVALID',
    );
    const flipped = signed.signature.slice();
    flipped[0] = flipped[0]! ^ 1;
    expect(voucherError(() => verifyVoucher({ ...signed, signature: flipped })).code).toBe(
      'VOUCHER_SIGNATURE_INVALID',
    );
    const byProvider = sign(VOUCHER_DOMAIN_TAG, signed.voucherBytes, provider.secretKey);
    expect(voucherError(() => verifyVoucher({ ...signed, signature: byProvider })).code).toBe(
      'VOUCHER_SIGNATURE_INVALID',
    );
  });

  it('does not accept a batch-domain signature over the same bytes', () => {
    const signed = signVoucher(base, consumer.secretKey);
    const wrongDomain = sign('fieldmesh/batch/v1', signed.voucherBytes, consumer.secretKey);
    expect(() => verifyVoucher({ ...signed, signature: wrongDomain })).toThrow(VoucherError);
  });
});

describe('supersedes', () => {
  const next: Voucher = {
    ...base,
    sequence: 4,
    jobs: 130,
    computeUs: 4_900_000,
    highestReceiptSequence: 129,
    issuedAtMs: base.issuedAtMs + 60_000,
  };

  it('a newer voucher with totals that did not go down supersedes', () => {
    expect(supersedes(next, base)).toBe(true);
    expect(supersedes({ ...next, jobs: base.jobs, computeUs: base.computeUs }, base)).toBe(true);
    expect(compareVouchers(next, base)).toEqual({ verdict: 'supersedes' });
  });

  it('an older or identical voucher is stale', () => {
    expect(supersedes(base, next)).toBe(false);
    expect(compareVouchers(base, next)).toEqual({ verdict: 'stale' });
    expect(compareVouchers(base, base)).toEqual({ verdict: 'stale' });
  });

  it.each(['jobs', 'computeUs', 'highestReceiptSequence'] as const)(
    'a newer voucher whose %s went down is invalid and says why',
    (field) => {
      const lower = { ...next, [field]: base[field] - 1 };
      expect(supersedes(lower, base)).toBe(false);
      const verdict = compareVouchers(lower, base);
      expect(verdict).toMatchObject({ verdict: 'invalid', field });
      if (verdict.verdict === 'invalid') expect(verdict.reason).toContain('went down');
    },
  );

  it('the same sequence with different totals is invalid', () => {
    expect(compareVouchers({ ...base, jobs: base.jobs + 1 }, base)).toMatchObject({
      verdict: 'invalid',
      field: 'jobs',
    });
  });

  it.each([
    ['sessionId', new Uint8Array(16).fill(0xcd)],
    ['consumerKey', identityFromSeed(new Uint8Array(32).fill(9)).publicKey],
    ['providerKey', identityFromSeed(new Uint8Array(32).fill(10)).publicKey],
  ] as const)('vouchers with a different %s do not compare', (field, value) => {
    const other = { ...next, [field]: value };
    expect(supersedes(other, base)).toBe(false);
    expect(compareVouchers(other, base)).toMatchObject({ verdict: 'unrelated', field });
  });
});

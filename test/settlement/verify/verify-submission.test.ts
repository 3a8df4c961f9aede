import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signBatch } from '../../../protocol/batch.js';
import { encodeCbor } from '../../../protocol/cbor.js';
import { identityFromSeed, type NodeIdentity } from '../../../protocol/identity.js';
import { type Receipt, receiptId } from '../../../protocol/receipt.js';
import { ED25519_ORDER } from '../../../protocol/signatures.js';
import { encodeSubmission } from '../../../protocol/submission.js';
import {
  type VerifyContext,
  type VerifyResult,
  verifySubmission,
} from '../../../settlement/verify/verify-submission.js';
import { receiptBody } from '../../helpers/receipts.js';

const NOW = 1_700_000_000_000;
const provider = identityFromSeed(new Uint8Array(32).fill(1));
const other = identityFromSeed(new Uint8Array(32).fill(2));
const consumer = identityFromSeed(new Uint8Array(32).fill(3));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function receipt(sequence: number, over: Partial<Receipt> = {}, who: NodeIdentity = provider): Uint8Array {
  return receiptBody({ provider: who, consumer }, sequence, {
    modelSha256: new Uint8Array(32).fill(4),
    outputDigest: new Uint8Array(32).fill(6),
    startTimeMs: NOW - 1_000,
    ...over,
  });
}

function submit(bodies: Uint8Array[], signer: NodeIdentity = provider, batchSequence = 0): Uint8Array {
  const { headerBytes, signature } = signBatch(bodies.map(receiptId), {
    secretKey: signer.secretKey,
    batchSequence,
    createdAtMs: NOW,
  });
  return encodeSubmission({ headerBytes, signature, receiptBodies: bodies });
}

/** An in-memory store that credits valid receipts, as the settlement service would. */
function store(extra: Partial<VerifyContext> = {}) {
  const bodies = new Map<string, string>();
  const slots = new Map<string, string>();
  const ctx: VerifyContext = {
    nowMs: NOW,
    maxPastMs: 86_400_000,
    maxFutureMs: 60_000,
    known: (id) => {
      const bodyHex = bodies.get(id);
      return bodyHex === undefined ? undefined : { bodyHex };
    },
    seenSlot: (p, pipeline, seq) => slots.get(`${p}/${pipeline}/${seq}`),
    ...extra,
  };
  const run = (bytes: Uint8Array): VerifyResult => {
    const result = verifySubmission(bytes, ctx);
    if (result.ok) {
      for (const r of result.receipts) {
        if (r.status !== 'valid' || r.receipt === undefined) continue;
        bodies.set(r.idHex, 'stored');
        slots.set(`${result.provider}/${r.receipt.pipelineId}/${r.receipt.sequence}`, r.idHex);
      }
    }
    return result;
  };
  return { ctx, run };
}

function statuses(result: VerifyResult): string[] {
  if (!result.ok) throw new Error(`expected ok, got ${result.status}: ${result.detail}`);
  return result.receipts.map((r) => r.status);
}

function rejection(result: VerifyResult): string {
  if (result.ok) throw new Error('expected a batch rejection');
  return result.status;
}

describe('verifySubmission: accepted batches', () => {
  it('accepts a valid batch and reports every receipt valid, with ids and decoded receipts', () => {
    const bodies = [receipt(1), receipt(2), receipt(3)];
    const result = store().run(submit(bodies));
    expect(statuses(result)).toEqual(['valid', 'valid', 'valid']);
    if (!result.ok) return;
    expect(result.provider).toBe(hex(provider.publicKey));
    expect(result.header.leafCount).toBe(3);
    expect(result.receipts.map((r) => r.idHex)).toEqual(bodies.map((b) => hex(receiptId(b))));
    expect(result.receipts[1]?.receipt?.sequence).toBe(2);
  });

  it('reports the same batch sent twice as all duplicate (idempotent)', () => {
    const s = store();
    const bytes = submit([receipt(1), receipt(2)]);
    expect(statuses(s.run(bytes))).toEqual(['valid', 'valid']);
    expect(statuses(s.run(bytes))).toEqual(['duplicate', 'duplicate']);
  });

  it('dedups on receipt id, not signature: the same receipts in a new batch are duplicate', () => {
    const s = store();
    s.run(submit([receipt(1), receipt(2)]));
    expect(statuses(s.run(submit([receipt(2), receipt(1)], provider, 1)))).toEqual([
      'duplicate',
      'duplicate',
    ]);
  });

  it('marks a repeated receipt inside one batch as duplicate', () => {
    expect(statuses(store().run(submit([receipt(1), receipt(1)])))).toEqual(['valid', 'duplicate']);
  });

  it('flags equivocation across batches: another body for a credited slot', () => {
    const s = store();
    s.run(submit([receipt(7)]));
    const result = s.run(submit([receipt(7, { computeTimeUs: 9 }), receipt(8)], provider, 1));
    expect(statuses(result)).toEqual(['equivocation', 'valid']);
    if (result.ok) expect(result.receipts[0]?.detail).toMatch(/sequence 7 already holds/);
  });

  it('flags equivocation within one batch: the first body keeps the slot', () => {
    const result = store().run(submit([receipt(5), receipt(5, { sampleCount: 2 })]));
    expect(statuses(result)).toEqual(['valid', 'equivocation']);
  });

  it('treats the same sequence on another pipeline as a different slot', () => {
    expect(statuses(store().run(submit([receipt(5), receipt(5, { pipelineId: 'thermal' })])))).toEqual([
      'valid',
      'valid',
    ]);
  });

  it('bounds the start time: far past and far future are outside_time_window, edges are valid', () => {
    const s = store();
    const { maxPastMs, maxFutureMs } = s.ctx;
    const result = s.run(
      submit([
        receipt(1, { startTimeMs: NOW - maxPastMs - 1 }),
        receipt(2, { startTimeMs: NOW + maxFutureMs + 1 }),
        receipt(3, { startTimeMs: NOW - maxPastMs }),
        receipt(4, { startTimeMs: NOW + maxFutureMs }),
        receipt(5, { startTimeMs: 0 }),
      ]),
    );
    expect(statuses(result)).toEqual([
      'outside_time_window',
      'outside_time_window',
      'valid',
      'valid',
      'outside_time_window',
    ]);
  });

  it('marks an undecodable body malformed but keeps the rest of a correctly rooted batch', () => {
    const garbage = Uint8Array.of(0xff, 0x00, 0x01);
    const wrongShape = encodeCbor([1, 2, 3]);
    const result = store().run(submit([receipt(1), garbage, wrongShape, receipt(2)]));
    expect(statuses(result)).toEqual(['valid', 'malformed', 'malformed', 'valid']);
    if (!result.ok) return;
    expect(result.receipts[1]?.idHex).toBe(hex(receiptId(garbage)));
    expect(result.receipts[1]?.detail).toMatch(/RECEIPT|receipt rejected/);
    expect(result.receipts[1]?.receipt).toBeUndefined();
  });

  it('accepts a registered provider when registration is required', () => {
    const s = store({ registeredProviders: new Set([hex(provider.publicKey)]) });
    expect(statuses(s.run(submit([receipt(1)])))).toEqual(['valid']);
  });
});

describe('verifySubmission: rejected batches', () => {
  it('rejects a tampered leaf as root_mismatch', () => {
    const bodies = [receipt(1), receipt(2)];
    const { headerBytes, signature } = signBatch(bodies.map(receiptId), {
      secretKey: provider.secretKey,
      batchSequence: 0,
      createdAtMs: NOW,
    });
    const tampered = [bodies[0]!, receipt(2, { sampleCount: 99 })];
    const bytes = encodeSubmission({ headerBytes, signature, receiptBodies: tampered });
    expect(rejection(store().run(bytes))).toBe('root_mismatch');
  });

  it('rejects a receipt list shorter or longer than leafCount as root_mismatch', () => {
    const bodies = [receipt(1), receipt(2)];
    const { headerBytes, signature } = signBatch(bodies.map(receiptId), {
      secretKey: provider.secretKey,
      batchSequence: 0,
      createdAtMs: NOW,
    });
    for (const receiptBodies of [[bodies[0]!], [...bodies, receipt(3)]]) {
      const result = store().run(encodeSubmission({ headerBytes, signature, receiptBodies }));
      expect(rejection(result)).toBe('root_mismatch');
    }
  });

  it('rejects a header signed by another key as bad_signature', () => {
    const bodies = [receipt(1)];
    const genuine = signBatch(bodies.map(receiptId), {
      secretKey: provider.secretKey,
      batchSequence: 0,
      createdAtMs: NOW,
    });
    const forged = signBatch(bodies.map(receiptId), {
      secretKey: other.secretKey,
      batchSequence: 0,
      createdAtMs: NOW,
    });
    const bytes = encodeSubmission({
      headerBytes: genuine.headerBytes,
      signature: forged.signature,
      receiptBodies: bodies,
    });
    expect(rejection(store().run(bytes))).toBe('bad_signature');
  });

  it('rejects a malleated signature (S + L) as bad_signature', () => {
    const bodies = [receipt(1)];
    const { headerBytes, signature } = signBatch(bodies.map(receiptId), {
      secretKey: provider.secretKey,
      batchSequence: 0,
      createdAtMs: NOW,
    });
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!);
    s += ED25519_ORDER;
    const malleated = signature.slice();
    for (let i = 32; i < 64; i++) {
      malleated[i] = Number(s & 0xffn);
      s >>= 8n;
    }
    expect(s).toBe(0n); // S + L still fits in 32 bytes
    const bytes = encodeSubmission({ headerBytes, signature: malleated, receiptBodies: bodies });
    expect(rejection(store().run(bytes))).toBe('bad_signature');
  });

  it('rejects a truncated signature as bad_signature', () => {
    const bodies = [receipt(1)];
    const { headerBytes, signature } = signBatch(bodies.map(receiptId), {
      secretKey: provider.secretKey,
      batchSequence: 0,
      createdAtMs: NOW,
    });
    const bytes = encodeSubmission({
      headerBytes,
      signature: signature.subarray(0, 63),
      receiptBodies: bodies,
    });
    expect(rejection(store().run(bytes))).toBe('bad_signature');
  });

  it('rejects a batch carrying a receipt of another provider', () => {
    const result = store().run(submit([receipt(1), receipt(2, {}, other)]));
    expect(rejection(result)).toBe('malformed');
    if (!result.ok) expect(result.detail).toContain(hex(other.publicKey));
  });

  it('rejects an unregistered provider as unknown_node when registration is required', () => {
    const s = store({ registeredProviders: new Set([hex(other.publicKey)]) });
    expect(rejection(s.run(submit([receipt(1)])))).toBe('unknown_node');
  });

  it('rejects truncated, garbage and wrongly shaped submissions as malformed', () => {
    const good = submit([receipt(1), receipt(2)]);
    const cases = [
      good.subarray(0, good.length - 1),
      Uint8Array.of(...good, 0x00),
      new Uint8Array(0),
      Uint8Array.from(Buffer.from('not cbor at all')),
      encodeCbor([1, 2, 3]),
      encodeCbor([new Uint8Array(3), new Uint8Array(64)]),
      encodeCbor([new Uint8Array(3), new Uint8Array(64), [receipt(1)]]),
      encodeCbor([new Uint8Array(3), new Uint8Array(64), []]),
    ];
    for (const bytes of cases) expect(rejection(store().run(bytes))).toBe('malformed');
  });

  it('rejects more receipts than the limit, or more bytes, as too_large', () => {
    expect(rejection(store({ maxReceipts: 2 }).run(submit([receipt(1), receipt(2), receipt(3)])))).toBe(
      'too_large',
    );
    expect(rejection(store({ maxBytes: 100 }).run(submit([receipt(1)])))).toBe('too_large');
    expect(
      statuses(store({ maxReceipts: 3 }).run(submit([receipt(1), receipt(2), receipt(3)]))),
    ).toHaveLength(3);
  });
});

describe('verifySubmission: robustness', () => {
  it('never throws on arbitrary bytes', () => {
    const s = store();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const result = verifySubmission(bytes, s.ctx);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on a valid submission with bytes flipped', () => {
    const good = submit([receipt(1), receipt(2)]);
    const s = store();
    fc.assert(
      fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bytes = good.slice();
        bytes[at] = bytes[at]! ^ x;
        const result = verifySubmission(bytes, s.ctx);
        // Any change to the signed envelope must never come out all-valid under the original root.
        if (result.ok) expect(result.receipts.some((r) => r.status !== 'valid')).toBe(true);
      }),
      { numRuns: 120 },
    );
  });
});

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAckResponse } from '../../../agent/receipts/sender.js';
import { decodeAck } from '../../../protocol/ack.js';
import { decodeCbor } from '../../../protocol/cbor.js';
import { verifyInclusion } from '../../../protocol/merkle.js';
import { encodeReceipt } from '../../../protocol/receipt.js';
import { decodeChallenges, encodeReveal } from '../../../protocol/reveal.js';
import { ED25519_ORDER, verifyNode } from '../../../protocol/signatures.js';
import { decodeSubmission, encodeSubmission } from '../../../protocol/submission.js';
import { EPOCH_DOMAIN_TAG, rewardLeaf } from '../../../settlement/store/ledger-epochs.js';
import { receiptBody, submissionOf, testIdentity } from '../../helpers/receipts.js';
import { startTestSettlement, type TestSettlement } from '../../helpers/settlement-service.js';
import { EXAMPLE_MANIFESTS, honestJob } from '../../helpers/spotcheck.js';

const provider = testIdentity(1);
// Local work: offloaded work (another consumer) earns only under vouchers (vouchers.test.ts).
const parties = { provider, consumer: provider };
const NOW = Date.now();

async function post(url: string, body: Uint8Array, path = '/v1/batches') {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/cbor' },
  });
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
}
// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field below.
type Json = any;
const json = (b: Uint8Array): Json => JSON.parse(Buffer.from(b).toString('utf8'));
const getJson = async (url: string): Promise<Json> => (await fetch(url)).json();

describe('settlement service over HTTP', () => {
  let s: TestSettlement;
  let modelHex: string;
  const fresh = (seq: number, over = {}) =>
    receiptBody(parties, seq, { modelSha256: Buffer.from(modelHex, 'hex'), startTimeMs: NOW, ...over });

  beforeAll(async () => {
    s = await startTestSettlement({ init: { spotCheckPpm: 0, maxBodyBytes: 64 * 1024 } });
    modelHex = (await honestJob(EXAMPLE_MANIFESTS[0] as string, 1)).modelSha256Hex;
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answers a batch with an ack signed by the key it publishes, and a replay with duplicates', async () => {
    const service = await getJson(`${s.url}/v1/service`);
    const sub = submissionOf(provider, [fresh(1), fresh(2)]);
    const first = await post(s.url, sub);
    expect(first.status).toBe(200);
    const signed = decodeAckResponse(first.body);
    expect(
      verifyNode(
        'fieldmesh/ack/v1',
        signed.ackBytes,
        signed.signature,
        Buffer.from(service.publicKey, 'hex'),
      ),
    ).toBe(true);
    expect(decodeAck(signed.ackBytes).receipts.map((r) => r.status)).toEqual(['valid', 'valid']);
    const replay = await post(s.url, sub);
    expect(decodeAck(decodeAckResponse(replay.body).ackBytes).receipts.map((r) => r.status)).toEqual([
      'duplicate',
      'duplicate',
    ]);
  });

  it('refuses each kind of bad submission with its own status, and still takes the next good one', async () => {
    const good = submissionOf(provider, [fresh(10), fresh(11)], 3);
    const parts = decodeSubmission(good);
    const tamperedLeaf = encodeSubmission({ ...parts, receiptBodies: [fresh(10), fresh(12)] });
    const forged = encodeSubmission({ ...parts, signature: new Uint8Array(64).fill(1) });
    const sig = Buffer.from(parts.signature);
    const s2 = (BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`) + ED25519_ORDER)
      .toString(16)
      .padStart(64, '0');
    const malleated = encodeSubmission({
      ...parts,
      signature: Buffer.concat([sig.subarray(0, 32), Buffer.from(s2, 'hex').reverse()]),
    });
    const cases: [string, Uint8Array, number, string][] = [
      ['tampered leaf', tamperedLeaf, 422, 'root_mismatch'],
      ['forged signature', forged, 401, 'bad_signature'],
      ['malleated signature (S + L)', malleated, 401, 'bad_signature'],
      ['truncated', good.subarray(0, good.length - 7), 400, 'malformed'],
      ['garbage', new Uint8Array(300).fill(0xab), 400, 'malformed'],
      ['empty', new Uint8Array(0), 400, 'malformed'],
      ['oversized', new Uint8Array(65 * 1024), 413, 'too_large'],
    ];
    for (const [what, body, status, error] of cases) {
      const res = await post(s.url, body);
      expect({ what, status: res.status, error: json(res.body).error }).toEqual({ what, status, error });
    }
    const ok = await post(s.url, good);
    expect(decodeAck(decodeAckResponse(ok.body).ackBytes).receipts.map((r) => r.status)).toEqual([
      'valid',
      'valid',
    ]);
  });

  it('judges timestamps far in the past or future, and unregistered models, per receipt', async () => {
    const bodies = [
      fresh(20, { startTimeMs: NOW + 86_400_000 }),
      fresh(21, { startTimeMs: 1_000 }),
      fresh(22, { modelSha256: new Uint8Array(32) }),
      fresh(23),
    ];
    const res = await post(s.url, submissionOf(provider, bodies, 4));
    expect(decodeAck(decodeAckResponse(res.body).ackBytes).receipts.map((r) => r.status)).toEqual([
      'outside_time_window',
      'outside_time_window',
      'unknown_model',
      'valid',
    ]);
  });

  it('closes an epoch into a signed statement and serves inclusion proofs anyone can check', async () => {
    const open = await getJson(`${s.url}/v1/epochs/1`);
    expect(open).toMatchObject({ epoch: 1, closedAtMs: null, seed: null });
    expect(open.seedCommitment).toMatch(/^[0-9a-f]{64}$/);
    const closed = await s.service.closeEpoch();
    const epoch = await getJson(`${s.url}/v1/epochs/latest`);
    expect(epoch.epoch).toBe(closed.epoch);
    const key = s.service.identity.publicKey;
    expect(
      verifyNode(
        EPOCH_DOMAIN_TAG,
        Buffer.from(epoch.statement, 'hex'),
        Buffer.from(epoch.signature, 'hex'),
        key,
      ),
    ).toBe(true);
    // The seed revealed at the close is the one committed to while the receipts arrived.
    expect(createHash('sha256').update(Buffer.from(epoch.seed, 'hex')).digest('hex')).toBe(
      open.seedCommitment,
    );
    expect((decodeCbor(Buffer.from(epoch.statement, 'hex')) as unknown[])[3]).toEqual(
      Buffer.from(epoch.rewardRoot, 'hex'),
    );
    const proof = await getJson(`${s.url}/v1/epochs/${closed.epoch}/proof/${provider.peerId}`);
    expect(proof.cumulative).toBe(5); // 2 + 2 + 1 valid single-sample receipts
    const leaf = rewardLeaf(provider.publicKey, proof.cumulative);
    const path = proof.proof.map((p: string) => Buffer.from(p, 'hex'));
    expect(
      verifyInclusion(leaf, proof.leafIndex, proof.leafCount, path, Buffer.from(epoch.rewardRoot, 'hex')),
    ).toBe(true);
    const node = await getJson(`${s.url}/v1/nodes/${provider.peerId}`);
    expect(node).toMatchObject({
      credited: 5,
      receipts: { valid: 5, duplicate: 2, outside_time_window: 2, unknown_model: 1 },
    });
    expect((await fetch(`${s.url}/v1/epochs/99/proof/${provider.peerId}`)).status).toBe(404);
    expect((await fetch(`${s.url}/v1/nope`)).status).toBe(404);
  });
});

describe('spot checks over HTTP', () => {
  let s: TestSettlement;
  beforeAll(async () => {
    s = await startTestSettlement({ init: { spotCheckPpm: 1_000_000, revealWindowMs: 60_000 } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('credits a batch whose reveal re-runs to the same output and voids one whose output was made up', async () => {
    const honest = await honestJob(EXAMPLE_MANIFESTS[0] as string, 3, 1);
    const liar = await honestJob(EXAMPLE_MANIFESTS[0] as string, 2, 2);
    const fakeOut = new Uint8Array(liar.reveal.output.length).fill(0x3f);
    const { recommit } = await import('../../helpers/spotcheck.js');
    const lie = recommit(liar, { output: fakeOut });
    const now = { startTimeMs: Date.now() };
    // Local work, so that the batch's credit does not wait for a voucher.
    const bodyOf = (r: typeof honest.receipt) => encodeReceipt({ ...r, ...now, consumerKey: r.providerKey });
    const honestBody = bodyOf(honest.receipt);
    const lieBody = bodyOf(lie.receipt);
    const p = testIdentity(1);
    expect((await post(s.url, submissionOf(p, [honestBody], 1))).status).toBe(200);
    expect((await post(s.url, submissionOf(p, [lieBody], 2))).status).toBe(200);
    const e1 = await s.service.closeEpoch();
    expect(e1.challenged).toBe(2);
    const challenges = decodeChallenges(
      new Uint8Array(await (await fetch(`${s.url}/v1/challenges/${p.peerId}`)).arrayBuffer()),
    );
    expect(challenges).toHaveLength(2);
    const { receiptId } = await import('../../../protocol/receipt.js');
    const reveal = (body: Uint8Array, r: typeof honest.reveal) =>
      encodeReveal({ ...r, receiptId: receiptId(body) });
    const passed = await post(s.url, reveal(honestBody, honest.reveal), '/v1/reveals');
    expect(json(passed.body)).toEqual({ status: 'passed' });
    const failed = await post(s.url, reveal(lieBody, lie.reveal), '/v1/reveals');
    expect(json(failed.body).status).toBe('failed');
    expect(json(failed.body).reason).toMatch(/output/);
    const again = await post(s.url, reveal(honestBody, honest.reveal), '/v1/reveals');
    expect(again.status).toBe(404);
    await s.service.closeEpoch();
    const node = await getJson(`${s.url}/v1/nodes/${p.peerId}`);
    expect(node).toMatchObject({ credited: 3, voided: 2, pending: 0, openChallenges: 0 });
  });

  it('refuses a reveal that is not CBOR with a 400 and a reason', async () => {
    const res = await post(s.url, new Uint8Array([1, 2, 3]), '/v1/reveals');
    expect(res.status).toBe(400);
    expect(json(res.body).error).toBe('malformed_reveal');
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After once an address passes its burst', async () => {
    const s = await startTestSettlement({ init: { ratePerAddress: { burst: 3, perSecond: 0.5 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await post(s.url, new Uint8Array([0]))).status);
      expect(statuses).toEqual([400, 400, 400, 429, 429]);
      const limited = await post(s.url, new Uint8Array([0]));
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await s.close();
    }
  });

  it('limits each node by its verified batches; forged batches in its name do not use up its rate', async () => {
    const s = await startTestSettlement({ init: { ratePerNode: { burst: 2, perSecond: 0.2 } } });
    try {
      const node = testIdentity(7);
      const body = (seq: number) =>
        receiptBody({ provider: node, consumer: node }, seq, { startTimeMs: Date.now() });
      const good = (seq: number) => submissionOf(node, [body(seq)], seq);
      const forged = encodeSubmission({
        ...decodeSubmission(good(100)),
        signature: new Uint8Array(64).fill(3),
      });
      for (let i = 0; i < 3; i++) expect((await post(s.url, forged)).status).toBe(401);
      expect((await post(s.url, good(1))).status).toBe(200);
      expect((await post(s.url, good(2))).status).toBe(200);
      const third = await post(s.url, good(3));
      expect(third.status).toBe(429);
      expect(json(third.body).detail).toContain('too fast');
      const other = testIdentity(8);
      const otherBody = receiptBody({ provider: other, consumer: other }, 1, { startTimeMs: Date.now() });
      expect((await post(s.url, submissionOf(other, [otherBody]))).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

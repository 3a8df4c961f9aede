import { afterEach, describe, expect, it } from 'vitest';
import type { NodeIdentity } from '../../../protocol/identity.js';
import { verifyInclusion } from '../../../protocol/merkle.js';
import { signNode } from '../../../protocol/signatures.js';
import { type SignedVoucher, signVoucher, type Voucher } from '../../../protocol/voucher.js';
import { type IngestInit, ingestSubmission } from '../../../settlement/service/ingest.js';
import type { SqlDb } from '../../../settlement/store/db.js';
import {
  closeEpoch,
  EPOCH_DOMAIN_TAG,
  rewardLeaf,
  rewardProof,
} from '../../../settlement/store/ledger-epochs.js';
import { nodeSummary } from '../../../settlement/store/ledger-queries.js';
import { storeVoucher } from '../../../settlement/store/ledger-vouchers.js';
import { receiptBody, submissionOf, testIdentity } from '../../helpers/receipts.js';
import { openTestStore, STORE_KINDS } from '../../helpers/settlement-store.js';

const service = testIdentity(9);
const provider = testIdentity(1);
const consumer = testIdentity(2);
const otherProvider = testIdentity(3);
const MODEL = Buffer.alloc(32, 5).toString('hex');
const CREDIT = 3;
const US = 1_500;
const NOW = 1_700_000_000_500;
const SESSION = new Uint8Array(16).fill(0xab);
const PIPELINE = `offload/${Buffer.from(SESSION).toString('hex')}`;
const init: IngestInit = {
  maxPastMs: 86_400_000,
  maxFutureMs: 60_000,
  maxReceipts: 10_000,
  maxBytes: 8 << 20,
  requireRegistration: false,
};
const offloaded = { provider, consumer };

/** Offload receipts `from`…`to` (inclusive) of the session, as the provider's batch. */
function offloadBodies(from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let seq = from; seq <= to; seq++) out.push(receiptBody(offloaded, seq, { pipelineId: PIPELINE }));
  return out;
}

function voucher(over: Partial<Voucher> & Pick<Voucher, 'sequence' | 'jobs'>, by: NodeIdentity = consumer) {
  return signVoucher(
    {
      consumerKey: by.publicKey,
      providerKey: provider.publicKey,
      sessionId: SESSION,
      computeUs: over.jobs * US,
      highestReceiptSequence: over.jobs,
      issuedAtMs: NOW + over.sequence,
      ...over,
    },
    by.secretKey,
  );
}

describe.each(STORE_KINDS)('offloaded work on the %s store', (kind) => {
  let db: SqlDb;
  let batchSeq = 0;
  afterEach(async () => {
    await db?.close();
  });
  const components = () => ({
    db,
    identity: service,
    now: () => NOW,
    creditPerSample: (digest: string) => (digest === MODEL ? CREDIT : undefined),
  });
  const ingest = (who: NodeIdentity, bodies: Uint8Array[]) =>
    ingestSubmission(submissionOf(who, bodies, batchSeq++), init, components());
  const submit = (s: SignedVoucher) => storeVoucher(db, s, { nowMs: NOW, requireRegistration: false });
  let closes = 0;
  const close = () =>
    closeEpoch(db, {
      nowMs: NOW + 1000 * ++closes,
      nextSeed: new Uint8Array(32).fill(4),
      fractionPpm: 0,
      revealWindowMs: 60_000,
      sign: (s) => signNode(EPOCH_DOMAIN_TAG, s, service.secretKey),
    });
  const credited = async () => (await nodeSummary(db, provider.publicKey)).credited;
  const open = async () => {
    db = await openTestStore(kind, NOW);
    batchSeq = 0;
    closes = 0;
  };

  it('credits vouched offload receipts and withholds what no voucher covers', async () => {
    await open();
    expect((await submit(voucher({ sequence: 1, jobs: 3 }))).status).toBe('stored');
    await ingest(provider, offloadBodies(1, 5));
    const closed = await close();
    expect(closed.vouched).toBe(3);
    const summary = await nodeSummary(db, provider.publicKey);
    expect(summary.credited).toBe(3 * CREDIT);
    expect(summary.offload).toMatchObject({ sessions: 1, vouchedReceipts: 3, withheldReceipts: 2 });
    expect(summary.offload.withheldCredit).toBe(2 * CREDIT);
    // The reward tree commits to the vouched credit only.
    const proof = await rewardProof(db, closed.epoch, provider.publicKey);
    expect(proof?.cumulative).toBe(3 * CREDIT);
    if (!proof) return;
    const leaf = rewardLeaf(provider.publicKey, proof.cumulative);
    expect(verifyInclusion(leaf, proof.leafIndex, proof.leafCount, proof.proof, proof.rewardRoot)).toBe(true);
  });

  it('caps by the highest receipt sequence and by the vouched compute time as well as by jobs', async () => {
    await open();
    await ingest(provider, offloadBodies(1, 6));
    await submit(voucher({ sequence: 1, jobs: 6, highestReceiptSequence: 2, computeUs: 2 * US }));
    expect((await close()).vouched).toBe(2);
    // Compute for 4 receipts less one microsecond: only a third one more fits.
    await submit(voucher({ sequence: 2, jobs: 6, highestReceiptSequence: 6, computeUs: 4 * US - 1 }));
    expect((await close()).vouched).toBe(1);
    expect(await credited()).toBe(3 * CREDIT);
  });

  it('credits a voucher that arrives after its receipts, and a raised cap once, never twice', async () => {
    await open();
    await ingest(provider, offloadBodies(1, 4));
    expect((await close()).vouched).toBe(0);
    expect((await nodeSummary(db, provider.publicKey)).offload.withheldReceipts).toBe(4);
    const first = voucher({ sequence: 1, jobs: 2 });
    await submit(first);
    await close();
    expect(await credited()).toBe(2 * CREDIT);
    const second = voucher({ sequence: 2, jobs: 4 });
    expect((await submit(second)).status).toBe('stored');
    expect((await close()).vouched).toBe(2);
    expect(await credited()).toBe(4 * CREDIT);
    // Replays and older vouchers change nothing, however many closes follow.
    expect((await submit(second)).status).toBe('stale');
    expect((await submit(first)).status).toBe('stale');
    await ingest(provider, offloadBodies(1, 4)); // the same batch again: duplicates
    expect((await close()).vouched).toBe(0);
    expect(await credited()).toBe(4 * CREDIT);
    const proof = await rewardProof(db, 4, provider.publicKey);
    expect(proof?.cumulative).toBe(4 * CREDIT);
  });

  it('refuses forged vouchers with a reason and flags a consumer that goes back on its word', async () => {
    await open();
    await ingest(provider, offloadBodies(1, 4));
    const good = voucher({ sequence: 2, jobs: 3 });
    expect((await submit(good)).status).toBe('stored');
    const forged = { ...good, signature: new Uint8Array(64).fill(1) };
    expect(await submit(forged)).toMatchObject({ status: 'bad_signature' });
    // Signed by someone else than the consumer named in the body.
    const impostor = voucher({ sequence: 3, jobs: 4 }, otherProvider);
    const relabelled = {
      voucherBytes: voucher({ sequence: 3, jobs: 4 }).voucherBytes,
      signature: impostor.signature,
    };
    expect((await submit(relabelled)).status).toBe('bad_signature');
    expect((await submit({ voucherBytes: new Uint8Array([1, 2]), signature: good.signature })).status).toBe(
      'malformed',
    );
    const down = await submit(voucher({ sequence: 3, jobs: 1 }));
    expect(down.status).toBe('invalid');
    expect(down.detail).toMatch(/jobs went down/);
    const twice = voucher({ sequence: 2, jobs: 3, computeUs: 1 });
    expect((await submit(twice)).status).toBe('invalid');
    expect((await submit(twice)).status).toBe('invalid'); // relayed again: counted once
    const evidence = await db.query('SELECT reason FROM fm_voucher_equivocations');
    expect(evidence).toHaveLength(2);
    await close();
    const summary = await nodeSummary(db, provider.publicKey);
    // The held voucher stands: its 3 jobs are credited, and the equivocations are flagged.
    expect(summary.credited).toBe(3 * CREDIT);
    expect(summary.offload.voucherEquivocations).toBe(2);
  });

  it('never applies a voucher naming another provider, nor credits foreign work outside a session', async () => {
    await open();
    await ingest(provider, offloadBodies(1, 2));
    const elsewhere = voucher({ sequence: 1, jobs: 2, providerKey: otherProvider.publicKey });
    expect((await submit(elsewhere)).status).toBe('stored');
    const local = receiptBody({ provider, consumer: provider }, 7, { pipelineId: PIPELINE });
    const stray = receiptBody(offloaded, 8, { pipelineId: 'vibration' });
    const out = await ingest(provider, [local, stray]);
    expect(out.ok && out.verdicts.map((v) => [v.status, v.detail !== undefined])).toEqual([
      ['valid', false],
      ['valid', true],
    ]);
    await close();
    const summary = await nodeSummary(db, provider.publicKey);
    // Only the local receipt earns: the voucher credits otherProvider's session, which has no receipts.
    expect(summary.credited).toBe(CREDIT);
    expect(summary.offload).toMatchObject({ sessions: 0, withheldReceipts: 2, refusedReceipts: 1 });
    expect((await nodeSummary(db, otherProvider.publicKey)).credited).toBe(0);
  });

  it('credits the same total whatever order concurrent batches, vouchers and closes arrive in', async () => {
    await open();
    const vouchers = [1, 2, 3, 4, 5].map((n) => voucher({ sequence: n, jobs: n * 2 }));
    const batches = [0, 1, 2, 3, 4].map((i) => offloadBodies(i * 2 + 1, i * 2 + 2));
    await Promise.all([
      ...vouchers.reverse().map((v) => submit(v)),
      ...batches.map((b, i) => ingestSubmission(submissionOf(provider, b, 100 + i), init, components())),
      ...vouchers.map((v) => submit(v)),
    ]);
    await Promise.all([close(), close(), submit(voucher({ sequence: 5, jobs: 10 }))]);
    await close();
    expect(await credited()).toBe(10 * CREDIT);
    const [held] = await db.query<{ sequence: number }>('SELECT sequence FROM fm_vouchers');
    expect(held?.sequence).toBe(5);
    const [{ n } = { n: -1 }] = await db.query<{ n: number }>(
      `SELECT count(*) AS n FROM fm_receipts WHERE offload_state = 'vouched'`,
    );
    expect(n).toBe(10);
  });
});

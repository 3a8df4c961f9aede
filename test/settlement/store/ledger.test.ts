import { afterEach, describe, expect, it } from 'vitest';
import { verifyAck } from '../../../protocol/ack.js';
import { decodeCbor } from '../../../protocol/cbor.js';
import { verifyInclusion } from '../../../protocol/merkle.js';
import { signNode, verifyNode } from '../../../protocol/signatures.js';
import { type IngestInit, ingestSubmission } from '../../../settlement/service/ingest.js';
import type { SqlDb } from '../../../settlement/store/db.js';
import {
  closeEpoch,
  EPOCH_DOMAIN_TAG,
  rewardLeaf,
  rewardProof,
  seedCommitment,
} from '../../../settlement/store/ledger-epochs.js';
import {
  findChallenge,
  nodeSummary,
  openChallenges,
  registerNode,
  resolveChallenge,
} from '../../../settlement/store/ledger-queries.js';
import { receiptBody, submissionOf, testIdentity } from '../../helpers/receipts.js';
import { openTestStore, STORE_KINDS } from '../../helpers/settlement-store.js';

const service = testIdentity(9);
const provider = testIdentity(1);
const other = testIdentity(2);
const MODEL = Buffer.alloc(32, 5).toString('hex');
const NOW = 1_700_000_000_500;
const init: IngestInit = {
  maxPastMs: 86_400_000,
  maxFutureMs: 60_000,
  maxReceipts: 10_000,
  maxBytes: 8 << 20,
  requireRegistration: false,
};

describe.each(STORE_KINDS)('settlement ledger on the %s store', (kind) => {
  let db: SqlDb;
  afterEach(async () => {
    await db?.close();
  });
  const components = () => ({
    db,
    identity: service,
    now: () => NOW,
    creditPerSample: (digest: string) => (digest === MODEL ? 3 : undefined),
  });
  const parties = { provider, consumer: provider };
  const bodies = (from: number, n: number, over = {}) =>
    Array.from({ length: n }, (_, i) => receiptBody(parties, from + i, over));
  const close = (fractionPpm = 0, nowMs = NOW + 1000) =>
    closeEpoch(db, {
      nowMs,
      nextSeed: new Uint8Array(32).fill(4),
      fractionPpm,
      revealWindowMs: 60_000,
      sign: (s) => signNode(EPOCH_DOMAIN_TAG, s, service.secretKey),
    });

  it('acknowledges a batch with a signed status per receipt, and credits it once when replayed', async () => {
    db = await openTestStore(kind, NOW);
    const sub = submissionOf(provider, bodies(0, 5));
    const first = await ingestSubmission(sub, init, components());
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    const ack = verifyAck(first.ack, service.publicKey);
    expect(ack.receipts.map((r) => r.status)).toEqual(Array(5).fill('valid'));
    const replay = await ingestSubmission(sub, init, components());
    expect(replay.ok && replay.verdicts.map((v) => v.status)).toEqual(Array(5).fill('duplicate'));
    await close();
    const summary = await nodeSummary(db, provider.publicKey);
    expect(summary.credited).toBe(5 * 3);
    expect(summary.receipts).toEqual({ valid: 5, duplicate: 5 });
  });

  it('flags a second body for a used (provider, pipeline, sequence) slot as equivocation', async () => {
    db = await openTestStore(kind, NOW);
    await ingestSubmission(submissionOf(provider, bodies(0, 2)), init, components());
    const forked = receiptBody(parties, 1, { outputDigest: new Uint8Array(32).fill(99) });
    const out = await ingestSubmission(submissionOf(provider, [forked], 1), init, components());
    expect(out.ok && out.verdicts[0]?.status).toBe('equivocation');
    const [evidence] = await db.query<{ other_body: Uint8Array; kept_id: Uint8Array }>(
      'SELECT other_body, kept_id FROM fm_equivocations',
    );
    expect(Buffer.from(evidence?.other_body ?? []).equals(Buffer.from(forked))).toBe(true);
    expect(evidence?.kept_id).toBeInstanceOf(Uint8Array);
  });

  it('judges unknown models, out-of-window times and unregistered nodes each with their own status', async () => {
    db = await openTestStore(kind, NOW);
    const mixed = [
      receiptBody(parties, 0),
      receiptBody(parties, 1, { modelSha256: new Uint8Array(32).fill(6) }),
      receiptBody(parties, 2, { startTimeMs: NOW + 3_600_000 }),
    ];
    const out = await ingestSubmission(submissionOf(provider, mixed), init, components());
    expect(out.ok && out.verdicts.map((v) => v.status)).toEqual([
      'valid',
      'unknown_model',
      'outside_time_window',
    ]);
    const strict = { ...init, requireRegistration: true };
    const refused = await ingestSubmission(
      submissionOf(other, [receiptBody({ provider: other, consumer: other }, 0)]),
      strict,
      components(),
    );
    expect(refused).toMatchObject({ ok: false, status: 'unknown_node' });
    await registerNode(db, other.publicKey, other.peerId, NOW);
    const accepted = await ingestSubmission(
      submissionOf(other, [receiptBody({ provider: other, consumer: other }, 0)]),
      strict,
      components(),
    );
    expect(accepted.ok).toBe(true);
  });

  it('closes epochs into a signed reward root whose inclusion proofs verify', async () => {
    db = await openTestStore(kind, NOW);
    await ingestSubmission(submissionOf(provider, bodies(0, 4)), init, components());
    await ingestSubmission(
      submissionOf(other, [receiptBody({ provider: other, consumer: other }, 0)]),
      init,
      components(),
    );
    const e1 = await close();
    expect(e1).toMatchObject({ epoch: 1, leafCount: 2, challenged: 0 });
    expect(verifyNode(EPOCH_DOMAIN_TAG, e1.statement, e1.signature, service.publicKey)).toBe(true);
    expect(decodeCbor(e1.statement)).toEqual([
      1,
      NOW,
      NOW + 1000,
      e1.rewardRoot,
      2,
      e1.seed,
      e1.nextSeedCommitment,
    ]);
    // Epoch 1's seed was committed when it opened; epoch 2's is the one this close committed to.
    const [first] = await db.query<{ seed_commitment: Uint8Array }>(
      'SELECT seed_commitment FROM fm_epochs WHERE epoch = 1',
    );
    expect(first?.seed_commitment).toEqual(seedCommitment(e1.seed));
    await ingestSubmission(submissionOf(provider, bodies(4, 2), 1), init, components());
    await close(0, NOW + 2000);
    const proof = await rewardProof(db, 2, provider.publicKey);
    expect(proof?.cumulative).toBe(6 * 3);
    if (!proof) return;
    const leaf = rewardLeaf(provider.publicKey, proof.cumulative);
    expect(verifyInclusion(leaf, proof.leafIndex, proof.leafCount, proof.proof, proof.rewardRoot)).toBe(true);
    expect(
      verifyInclusion(
        rewardLeaf(provider.publicKey, proof.cumulative + 1),
        proof.leafIndex,
        proof.leafCount,
        proof.proof,
        proof.rewardRoot,
      ),
    ).toBe(false);
  });

  it('holds challenged batches until the reveal, credits a pass and voids a failure or a miss', async () => {
    db = await openTestStore(kind, NOW);
    await ingestSubmission(submissionOf(provider, bodies(0, 2)), init, components());
    await ingestSubmission(submissionOf(provider, bodies(2, 2), 1), init, components());
    await ingestSubmission(submissionOf(provider, bodies(4, 2), 2), init, components());
    const e1 = await close(1_000_000);
    expect(e1.challenged).toBe(6);
    expect((await nodeSummary(db, provider.publicKey)).pending).toBe(18);
    const open = await openChallenges(db, provider.publicKey, 100);
    expect(open).toHaveLength(6);
    const row = await findChallenge(db, open[0]?.receiptId ?? new Uint8Array());
    expect(row?.state).toBe('open');
    // Each challenge carries its receipt's sequence, for the provider's lookup.
    for (const c of open) expect(c.sequence).toBe((await findChallenge(db, c.receiptId))?.receipt.sequence);
    const byBatch = new Map<number, Uint8Array[]>();
    for (const c of open) {
      const b = (await findChallenge(db, c.receiptId))?.batchId ?? -1;
      byBatch.set(b, [...(byBatch.get(b) ?? []), c.receiptId]);
    }
    const [passBatch, failBatch] = [...byBatch.values()];
    for (const id of passBatch ?? []) expect(await resolveChallenge(db, id, { passed: true })).toBe(true);
    expect(
      await resolveChallenge(db, failBatch?.[0] ?? new Uint8Array(), {
        passed: false,
        reason: 'output differs',
      }),
    ).toBe(true);
    await close(0, NOW + 120_000); // the third batch's reveals are now overdue
    const summary = await nodeSummary(db, provider.publicKey);
    expect(summary).toMatchObject({ credited: 6, voided: 12, pending: 0 });
    expect(summary.batches).toEqual({ credited: 1, void: 2 });
  });
});

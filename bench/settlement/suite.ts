import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { loadModelFile } from '../../models/manifest.js';
import { signBatch } from '../../protocol/batch.js';
import { identityFromSeed, type NodeIdentity } from '../../protocol/identity.js';
import { encodeReceipt, receiptId } from '../../protocol/receipt.js';
import { encodeSubmission } from '../../protocol/submission.js';
import { DEFAULT_SETTLEMENT_INIT } from '../../settlement/service/context.js';
import { createSettlementService } from '../../settlement/service/service.js';
import { checkSubmission, judgeReceipts } from '../../settlement/verify/verify-submission.js';
import { createDatabase, startPostgres } from '../lib/postgres-server.js';
import { median, newReport, type SuiteReport } from '../lib/report.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MANIFEST = path.join(ROOT, 'models/examples/vibration-ae/manifest.json');
const BATCH = 500;
const PROVIDERS = 4;
const IN_FLIGHT = 4;

type Subject = 'verify_only' | 'embedded' | 'postgres';

/** `rounds × batches` fresh 500-receipt submissions from four providers, signed once up front. */
function makeSubmissions(modelSha256: Uint8Array, count: number, salt: number): Uint8Array[] {
  const providers: NodeIdentity[] = Array.from({ length: PROVIDERS }, (_, i) =>
    identityFromSeed(new Uint8Array(32).fill(i + 1)),
  );
  const now = Date.now();
  return Array.from({ length: count }, (_, b) => {
    const provider = providers[b % PROVIDERS] as NodeIdentity;
    const bodies = Array.from({ length: BATCH }, (_, i) =>
      encodeReceipt({
        version: 1,
        providerKey: provider.publicKey,
        consumerKey: provider.publicKey,
        pipelineId: `bench-${salt}`,
        sequence: b * BATCH + i,
        modelSha256,
        inputDigest: new Uint8Array(32).fill((b + i) % 256),
        outputDigest: new Uint8Array(32).fill(i % 256),
        startTimeMs: now,
        computeTimeUs: 250,
        sampleCount: 4,
      }),
    );
    const { headerBytes, signature } = signBatch(bodies.map(receiptId), {
      secretKey: provider.secretKey,
      batchSequence: b,
      createdAtMs: now,
    });
    return encodeSubmission({ headerBytes, signature, receiptBodies: bodies });
  });
}

/** The baseline: the storage-free part of ingestion (decode, signature, root, per-receipt rules). */
function verifyOnly(subs: readonly Uint8Array[]): number {
  const started = performance.now();
  for (const sub of subs) {
    const checked = checkSubmission(sub, { maxReceipts: 10_000 });
    if (!checked.ok) throw new Error(`bench submission refused: ${checked.detail}`);
    judgeReceipts(checked, {
      nowMs: Date.now(),
      maxPastMs: 86_400_000,
      maxFutureMs: 60_000,
      known: () => undefined,
      seenSlot: () => undefined,
      modelKnown: () => true,
    });
  }
  return (subs.length * BATCH) / ((performance.now() - started) / 1000);
}

/** POSTs every submission to a real service (IN_FLIGHT at once) and checks each was acked. */
async function throughService(
  subs: readonly Uint8Array[],
  store: { dir: string; url?: string },
): Promise<number> {
  const service = createSettlementService(
    {
      ...DEFAULT_SETTLEMENT_INIT,
      port: 0,
      epochMs: 3_600_000,
      ratePerAddress: { burst: 1e9, perSecond: 1e9 },
      ratePerNode: { burst: 1e9, perSecond: 1e9 },
    },
    {
      logger: pino({ level: 'silent' }),
      dataDir: store.dir,
      ...(store.url ? { databaseUrl: store.url } : {}),
      models: [{ manifest: MANIFEST }],
    },
  );
  await service.start();
  try {
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < subs.length) {
        const body = subs[next++] as Uint8Array;
        const res = await fetch(`${service.url}/v1/batches`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/cbor' },
        });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`settlement answered HTTP ${res.status}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    return (subs.length * BATCH) / ((performance.now() - started) / 1000);
  } finally {
    await service.stop();
  }
}

/**
 * settlement: receipts per second taken in by the service (HTTP, verification, one SQL
 * transaction per batch, signed ack), 500-receipt batches, four in flight — on the embedded
 * store and on PostgreSQL (Debian's server, default durability), beside the storage-free
 * verification of the same submissions as the ceiling.
 */
export async function runSettlementSuite(opts: { quick: boolean }): Promise<SuiteReport> {
  const rounds = opts.quick ? 2 : 3;
  const batches = opts.quick ? 16 : 60;
  const report = newReport('settlement', opts.quick);
  const model = await loadModelFile(MANIFEST);
  const digest = new Uint8Array(Buffer.from(model.sha256, 'hex'));
  const pg = await startPostgres();
  const work = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-settlement-'));
  const results: Record<Subject, number[]> = { verify_only: [], embedded: [], postgres: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      const subs = makeSubmissions(digest, batches, r);
      results.verify_only.push(verifyOnly(subs));
      results.embedded.push(await throughService(subs, { dir: path.join(work, `embedded-${r}`) }));
      const url = await createDatabase(pg.url, `bench_${r}`);
      results.postgres.push(await throughService(subs, { dir: path.join(work, `pg-${r}`), url }));
    }
  } finally {
    await pg.stop();
    await rm(work, { recursive: true, force: true });
  }
  for (const [name, xs] of Object.entries(results)) {
    report.metrics[`${name}_receipts_per_s`] = { value: median(xs), unit: 'receipts/s' };
    report.rounds[`${name}_receipts_per_s`] = xs;
  }
  const m = (k: Subject) => report.metrics[`${k}_receipts_per_s`]?.value ?? Number.NaN;
  report.ratios.postgres_vs_verify_only = {
    value: m('postgres') / m('verify_only'),
    of: 'postgres_receipts_per_s / verify_only_receipts_per_s',
  };
  report.ratios.embedded_vs_verify_only = {
    value: m('embedded') / m('verify_only'),
    of: 'embedded_receipts_per_s / verify_only_receipts_per_s',
  };
  report.ratios.postgres_vs_goal = {
    value: m('postgres') / 20_000,
    of: 'postgres_receipts_per_s / 20,000',
    goal: '≥ 1',
  };
  return report;
}

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { loadModelFile } from '../../models/manifest.js';
import { signBatch } from '../../protocol/batch.js';
import { encodeCbor } from '../../protocol/cbor.js';
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
const CLIENT = path.join(ROOT, 'dist/bench/settlement/client.js');
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

interface ServiceRun {
  /** Receipts per second of wall time. */
  readonly rate: number;
  /** Receipts per second of the service process's own CPU time: the one-core figure. */
  readonly perCpuSecond: number;
}

/** Runs the load client (bench/settlement/client.ts) against `url`; resolves with its wall time. */
async function runClient(url: string, file: string): Promise<number> {
  const child = spawn(process.execPath, [CLIENT, url, file, String(IN_FLIGHT)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ms = Number(/done ([\d.]+)/.exec(out)?.[1]);
  if (code !== 0 || !Number.isFinite(ms)) throw new Error(`the settlement load client failed (exit ${code})`);
  return ms;
}

/**
 * POSTs every submission to a real service, in-process here, from a client in another
 * process (IN_FLIGHT at once), so this process's CPU time is the service's alone.
 */
async function throughService(
  file: string,
  receipts: number,
  store: { dir: string; url?: string },
): Promise<ServiceRun> {
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
    const cpu = process.cpuUsage();
    const ms = await runClient(service.url, file);
    const used = process.cpuUsage(cpu);
    return { rate: receipts / (ms / 1000), perCpuSecond: receipts / ((used.user + used.system) / 1e6) };
  } finally {
    await service.stop();
  }
}

/**
 * settlement: receipts taken in by the service (HTTP, verification, one SQL transaction per
 * batch, signed ack), 500-receipt batches, four in flight from a client process — on the
 * embedded store and on PostgreSQL (Debian's server, default durability), beside the
 * storage-free verification of the same submissions as the ceiling. Reported per second of
 * wall time (client, service and PostgreSQL share the two cores) and per CPU-second of the
 * service process alone (the "one core" figure).
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
  const perCpu: Record<'embedded' | 'postgres', number[]> = { embedded: [], postgres: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      const subs = makeSubmissions(digest, batches, r);
      const file = path.join(work, `submissions-${r}.cbor`);
      await writeFile(file, encodeCbor(subs));
      const receipts = subs.length * BATCH;
      results.verify_only.push(verifyOnly(subs));
      const embedded = await throughService(file, receipts, { dir: path.join(work, `embedded-${r}`) });
      const url = await createDatabase(pg.url, `bench_${r}`);
      const postgres = await throughService(file, receipts, { dir: path.join(work, `pg-${r}`), url });
      results.embedded.push(embedded.rate);
      results.postgres.push(postgres.rate);
      perCpu.embedded.push(embedded.perCpuSecond);
      perCpu.postgres.push(postgres.perCpuSecond);
    }
  } finally {
    await pg.stop();
    await rm(work, { recursive: true, force: true });
  }
  for (const [name, xs] of Object.entries(results)) {
    report.metrics[`${name}_receipts_per_s`] = { value: median(xs), unit: 'receipts/s' };
    report.rounds[`${name}_receipts_per_s`] = xs;
  }
  for (const [name, xs] of Object.entries(perCpu)) {
    report.metrics[`${name}_receipts_per_service_cpu_s`] = { value: median(xs), unit: 'receipts/CPU-s' };
    report.rounds[`${name}_receipts_per_service_cpu_s`] = xs;
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
    value: (report.metrics.postgres_receipts_per_service_cpu_s?.value ?? Number.NaN) / 20_000,
    of: 'postgres_receipts_per_service_cpu_s / 20,000 (one core of the service)',
    goal: '≥ 1',
  };
  return report;
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { validateConfig } from '../../agent/config/load.js';
import type { Config } from '../../agent/config/schema.js';
import type { ModelOutputs } from '../../agent/infer/model-runtime.js';
import { ModelRuntime } from '../../agent/infer/model-runtime.js';
import type { ReceiptJob } from '../../agent/pipeline/receipt-sink.js';
import { createOutbox, type Outbox } from '../../agent/receipts/outbox.js';
import { createTensorRetention, type TensorRetention } from '../../agent/receipts/retention.js';
import { identityFromSeed } from '../../protocol/identity.js';
import { outputBytes, sha256, type TensorLike, tensorBytes } from '../../protocol/tensors.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MANIFEST = path.join(ROOT, 'models/examples/vibration-ae/manifest.json');
export const CLI = path.join(ROOT, 'bin/fieldmesh.js');

const silent = pino({ level: 'silent' });
const node = identityFromSeed(new Uint8Array(32).fill(7));

/** The agent config the in-process parts share: the model, and settlement with its defaults. */
function benchConfig(): Readonly<Config> {
  return validateConfig(
    {
      log: { level: 'silent' },
      models: [{ id: 'vibration-ae', manifest: MANIFEST, threads: 1 }],
      pipelines: [{ id: 'bench', model: 'vibration-ae', input: { topic: 'bench/+' } }],
      settlement: { url: 'http://127.0.0.1:9', servicePublicKey: '00'.repeat(32) },
    },
    'bench.yaml',
    { env: {} },
  );
}

export async function loadModel(): Promise<ModelRuntime> {
  const cfg = benchConfig();
  return ModelRuntime.load(cfg.models[0]!, { logger: silent });
}

/** A model input of `rows` windows (normalised sine waves, as the load rig sends) and its outputs. */
export interface JobSample {
  readonly rows: number;
  readonly input: Float32Array;
  readonly outputs: ModelOutputs;
}

/** `count` distinct job shapes of `rows` windows, each with the outputs the model really gave. */
export async function jobSamples(model: ModelRuntime, rows: number, count: number): Promise<JobSample[]> {
  const samples: JobSample[] = [];
  for (let s = 0; s < count; s++) {
    const input = new Float32Array(rows * model.windowSize);
    for (let i = 0; i < input.length; i++) input[i] = Math.sin((s * 7 + i) / 5);
    samples.push({ rows, input, outputs: await model.run(input, rows) });
  }
  return samples;
}

/** The real outbox and tensor retention of an agent, with the config defaults, in a tmp dir. */
export interface ReceiptStores {
  readonly outbox: Outbox;
  readonly retention: TensorRetention;
  /** Writes everything buffered (the group commit and the retention flush). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export async function openStores(): Promise<ReceiptStores> {
  const settlement = benchConfig().settlement!;
  const dir = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-receipts-'));
  const outbox = createOutbox(
    { dir: path.join(dir, 'receipts'), maxDiskBytes: settlement.outbox.maxBytes, policy: settlement.batch },
    { logger: silent, now: Date.now, identity: node },
  );
  const retention = createTensorRetention(
    {
      dir: path.join(dir, 'reveals'),
      maxBytes: settlement.retention.maxBytes,
      retentionMs: settlement.retention.maxAgeMs,
    },
    { logger: silent, now: Date.now },
  );
  await outbox.start();
  await retention.start();
  return {
    outbox,
    retention,
    flush: async () => {
      await outbox.flush();
      await retention.flush();
    },
    close: async () => {
      await retention.stop();
      await outbox.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const modelSha256 = new Uint8Array(32).fill(1);

/**
 * Everything one inference call costs for its receipt on the agent: what Pipeline.recordReceipt
 * (agent/pipeline/pipeline.ts) computes — a view of the input, the output bytes, both digests —
 * and what the receipt service's sink (agent/receipts/service.ts) does with it. Kept in step
 * with those two by hand: they are private to the agent.
 */
export function recordJob(
  stores: ReceiptStores,
  input: Float32Array,
  rows: number,
  outputs: ModelOutputs,
  run: { startTimeMs: number; computeTimeUs: number },
): void {
  // A view, as the pipeline hands it: the retention's put() is the one copy.
  const inputBytes = tensorBytes(input);
  const output = outputBytes(outputs as unknown as Readonly<Record<string, TensorLike>>);
  const job: ReceiptJob = {
    pipelineId: 'bench',
    consumerKey: node.publicKey,
    modelSha256,
    inputDigest: sha256(inputBytes),
    outputDigest: sha256(output),
    startTimeMs: run.startTimeMs,
    computeTimeUs: run.computeTimeUs,
    sampleCount: rows,
    input: inputBytes,
    output,
  };
  const stored = stores.outbox.appendJob(job);
  if (stored !== null) stores.retention.put(stored.id, stored.sequence, job.input, job.output);
}

/** CPU time of this process (every thread: leveldb's writers included), microseconds. */
export function processCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../agent/config/load.js';
import { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import { createMqttLink, type MqttLink } from '../../../agent/mqtt/link.js';
import { Pipeline } from '../../../agent/pipeline/pipeline.js';
import type { ReceiptJob } from '../../../agent/pipeline/receipt-sink.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { createSensorStream } from '../../../models/generate/synthetic.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import {
  inputDigest,
  outputBytes,
  outputDigest,
  sha256,
  type TensorLike,
} from '../../../protocol/tensors.js';
import { topicsFor } from '../../../protocol/topics.js';
import { connectTestClient, quietLogger, startTestBroker } from '../../helpers/broker.js';
import { deferred, withTimeout } from '../../helpers/wait-for.js';

const node = identityFromSeed(new Uint8Array(32).fill(9));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let broker: EmbeddedBroker;
let sensors: MqttClient;
let link: MqttLink;
let model: ModelRuntime;

const config = () =>
  validateConfig(
    {
      log: { level: 'silent' },
      models: [{ id: 'vibration-ae', manifest: path.resolve('models/examples/vibration-ae/manifest.json') }],
      pipelines: [
        {
          id: 'vibration',
          model: 'vibration-ae',
          input: { topic: 'plant/+/vibration', format: 'number', sensor: { from: 'level', level: 1 } },
          window: { stride: 1 },
          results: { qos: 0 },
        },
      ],
    },
    'test.yaml',
    { env: {} },
  );

beforeAll(async () => {
  broker = await startTestBroker();
  sensors = await connectTestClient(broker.url, { clientId: 'sensors' });
  const cfg = config();
  model = await ModelRuntime.load(cfg.models[0]!, { logger: quietLogger });
  link = createMqttLink(
    {
      url: broker.url,
      clientId: 'pipeline-receipts',
      keepaliveS: 30,
      protocolVersion: 4,
      reconnect: { minMs: 20, maxMs: 200 },
      connectTimeoutMs: 3000,
    },
    { logger: quietLogger },
  );
  await link.start();
});

afterAll(async () => {
  await link.stop();
  await sensors.endAsync(true);
  await model.close();
  await broker.stop();
});

describe('pipeline receipts (real broker, real onnxruntime)', () => {
  it('records one receipt per model call whose digests match the revealed bytes', async () => {
    const jobs: ReceiptJob[] = [];
    const windows = 32 + 199; // window 32, stride 1: one window per reading from the 32nd on
    const allCounted = deferred();
    const sink = {
      record(job: ReceiptJob) {
        // The input is a view of the runner's buffer, valid during record(): keep a copy.
        jobs.push({ ...job, input: job.input.slice() });
        if (jobs.reduce((n, j) => n + j.sampleCount, 0) >= windows) allCounted.resolve();
      },
    };
    const pipeline = new Pipeline(config().pipelines[0]!, {
      link,
      model,
      topics: topicsFor('fieldmesh/v1/'),
      nodeId: node.peerId,
      logger: quietLogger,
      receipts: { sink, consumerKey: node.publicKey },
    });
    await pipeline.start();
    const runsBefore = model.stats.runs;
    const startedAt = Date.now();
    const stream = createSensorStream({ kind: 'vibration', seed: 3 });
    // A burst: windows pile up behind a running call, so later calls carry several rows.
    await Promise.all(
      Array.from({ length: windows + 31 }, () =>
        sensors.publishAsync('plant/m1/vibration', String(stream.next()), { qos: 1 }),
      ),
    );
    await withTimeout(allCounted.promise, `receipts covering ${windows} windows`, 15_000);
    await pipeline.stop();

    expect(jobs).toHaveLength(model.stats.runs - runsBefore);
    expect(jobs.reduce((n, j) => n + j.sampleCount, 0)).toBe(windows);
    expect(pipeline.stats().results).toBe(windows);
    expect(Math.max(...jobs.map((j) => j.sampleCount))).toBeGreaterThan(1);
    for (const job of jobs) {
      expect(job).toMatchObject({ pipelineId: 'vibration' });
      expect(hex(job.consumerKey)).toBe(hex(node.publicKey));
      expect(hex(job.modelSha256)).toBe(model.sha256);
      expect(job.startTimeMs).toBeGreaterThanOrEqual(startedAt);
      expect(job.computeTimeUs).toBeGreaterThan(0);
      // The revealed input is rows × 32 float32 values, and its digest is the receipt's.
      expect(job.input.byteLength).toBe(job.sampleCount * model.windowSize * 4);
      const input = new Float32Array(job.input.slice().buffer);
      expect(hex(inputDigest(input))).toBe(hex(job.inputDigest));
      // Re-running the model on the revealed input gives the revealed output and its digest.
      const outputs = (await model.run(input, job.sampleCount)) as unknown as Record<string, TensorLike>;
      expect(hex(outputDigest(outputs))).toBe(hex(job.outputDigest));
      expect(hex(sha256(job.output))).toBe(hex(job.outputDigest));
      expect(hex(outputBytes(outputs))).toBe(hex(job.output));
    }
  });

  it('hands the input over valid during record(), without copying it for the sink', async () => {
    const jobs: ReceiptJob[] = [];
    const copies: Uint8Array[] = [];
    const two = deferred();
    const pipeline = new Pipeline(config().pipelines[0]!, {
      link,
      model,
      topics: topicsFor('fieldmesh/v1/'),
      nodeId: node.peerId,
      logger: quietLogger,
      receipts: {
        sink: {
          record: (job) => {
            jobs.push(job);
            copies.push(job.input.slice());
            if (jobs.length === 2) two.resolve();
          },
        },
        consumerKey: node.publicKey,
      },
    });
    await pipeline.start();
    for (let i = 0; i < 33; i++) await sensors.publishAsync('plant/m2/vibration', String(i % 7), { qos: 1 });
    await withTimeout(two.promise, 'two receipts');
    await pipeline.stop();
    // A copy taken during record() is what the digest covers; the view itself is the runner's
    // buffer, which the next call overwrote.
    expect(hex(sha256(copies[0]!))).toBe(hex(jobs[0]!.inputDigest));
    expect(hex(sha256(copies[1]!))).toBe(hex(jobs[1]!.inputDigest));
    expect(hex(jobs[0]!.inputDigest)).not.toBe(hex(jobs[1]!.inputDigest));
    expect(jobs[0]!.input.buffer).toBe(jobs[1]!.input.buffer);
  });
});

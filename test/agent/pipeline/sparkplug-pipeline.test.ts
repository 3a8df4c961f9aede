import path from 'node:path';
import type { MqttClient } from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../agent/config/load.js';
import { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import { createMqttLink, type MqttLink } from '../../../agent/mqtt/link.js';
import type { ErrorReport } from '../../../agent/pipeline/error-reporter.js';
import { Pipeline } from '../../../agent/pipeline/pipeline.js';
import type { InferenceResult } from '../../../agent/pipeline/result.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { createSensorStream } from '../../../models/generate/synthetic.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import { topicsFor } from '../../../protocol/topics.js';
import { connectTestClient, quietLogger, startTestBroker } from '../../helpers/broker.js';
import { Collector } from '../../helpers/collect.js';
import { withTimeout } from '../../helpers/wait-for.js';

const spb = sparkplugPayload.get('spBv1.0');
if (spb === null) throw new Error('sparkplug-payload lacks spBv1.0');
const codec = spb;
type Decoded = ReturnType<typeof spb.decodePayload>;
type Metric = NonNullable<Parameters<typeof spb.encodePayload>[0]['metrics']>[number];

const node = identityFromSeed(new Uint8Array(32).fill(4));
const TEMP = path.resolve('models/examples/temperature-ae/manifest.json');
const T0 = 1_700_000_000_000;

/** Every Sparkplug message a client receives on topics matching `match`, decoded by Tahu. */
class SparkplugCollector {
  readonly messages: { topic: string; payload: Decoded }[] = [];
  private waiters: (() => void)[] = [];

  constructor(client: MqttClient, match: (topic: string) => boolean) {
    client.on('message', (topic, bytes) => {
      if (!match(topic)) return;
      let payload: Decoded;
      try {
        payload = codec.decodePayload(new Uint8Array(bytes));
      } catch {
        return; // the garbage a test publishes on purpose
      }
      this.messages.push({ topic, payload });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  async until(predicate: (msgs: this['messages']) => boolean, what: string): Promise<void> {
    const check = async () => {
      while (!predicate(this.messages)) await new Promise<void>((r) => this.waiters.push(r));
    };
    await withTimeout(check(), what, 10_000);
  }

  of(type: string): { topic: string; payload: Decoded }[] {
    return this.messages.filter((m) => m.topic.split('/')[2] === type);
  }
}

const seqOf = (p: Decoded): number => Number(p.seq?.toString());
const num = (v: unknown): number => Number(String(v));

let broker: EmbeddedBroker;
let edge: MqttClient;
let observer: MqttClient;
let link: MqttLink;
let model: ModelRuntime;
let results: Collector<InferenceResult>;
let errors: Collector<ErrorReport>;
let sparkplug: SparkplugCollector;
const running: Pipeline[] = [];

function config(pipeline: Record<string, unknown>) {
  return validateConfig(
    {
      log: { level: 'silent' },
      models: [{ id: 'temperature-ae', manifest: TEMP, warmupRuns: 1 }],
      pipelines: [{ id: 'boiler', model: 'temperature-ae', window: { stride: 8 }, ...pipeline }],
    },
    'test.yaml',
    { env: {} },
  );
}

const pipelineConfig = (pipeline: Record<string, unknown>) => config(pipeline).pipelines[0]!;

async function startPipeline(pipeline: Record<string, unknown>): Promise<Pipeline> {
  const p = new Pipeline(pipelineConfig(pipeline), {
    link,
    model,
    topics: topicsFor('fieldmesh/v1/'),
    nodeId: node.peerId,
    logger: quietLogger,
  });
  await p.start();
  running.push(p);
  return p;
}

beforeAll(async () => {
  broker = await startTestBroker();
  edge = await connectTestClient(broker.url, { clientId: 'edge-gw1' });
  observer = await connectTestClient(broker.url, { clientId: 'observer' });
  results = new Collector(observer, (t) => t.endsWith('/results'));
  errors = new Collector(observer, (t) => t.endsWith('/errors'));
  sparkplug = new SparkplugCollector(observer, (t) => t.startsWith('spBv1.0/'));
  await observer.subscribeAsync(['fieldmesh/v1/pipelines/+/+', 'spBv1.0/#'], { qos: 1 });
  model = await ModelRuntime.load(config({ input: { topic: 'unused' } }).models[0]!, { logger: quietLogger });
  link = createMqttLink(
    {
      url: broker.url,
      clientId: 'sparkplug-pipeline',
      keepaliveS: 30,
      protocolVersion: 4,
      reconnect: { minMs: 20, maxMs: 200 },
      connectTimeoutMs: 3000,
    },
    { logger: quietLogger },
  );
  await link.start();
});

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  results.messages.length = 0;
  errors.messages.length = 0;
  sparkplug.messages.length = 0;
});

afterAll(async () => {
  await link.stop();
  await edge.endAsync(true);
  await observer.endAsync(true);
  await model.close();
  await broker.stop();
});

/** What edge node gw1 of group plant1 sends; seq is its own counter, as on a real edge node. */
function edgeNode() {
  let seq = 0;
  const send = (type: string, metrics: Metric[], device = true) => {
    const topic = `spBv1.0/plant1/${type}/gw1${device ? '/boiler' : ''}`;
    const withSeq = type === 'NDEATH' ? {} : { seq: type === 'NBIRTH' ? 0 : seq };
    return edge.publishAsync(
      topic,
      Buffer.from(codec.encodePayload({ timestamp: Date.now(), ...withSeq, metrics })),
      { qos: 1 },
    );
  };
  return {
    async birth(bdSeq: number) {
      seq = 0;
      await send(
        'NBIRTH',
        [
          { name: 'bdSeq', type: 'UInt64', value: bdSeq },
          { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
        ],
        false,
      );
      seq = 1;
      await send('DBIRTH', [
        { name: 'Temperature', alias: 1, type: 'Double', value: 60, timestamp: T0 },
        { name: 'Serial', alias: 2, type: 'String', value: 'B-17' },
      ]);
    },
    async data(value: number, ts: number) {
      seq = (seq + 1) % 256;
      await send('DDATA', [{ alias: 1, type: 'Double', value, timestamp: ts }]);
    },
    skip() {
      seq = (seq + 3) % 256;
    },
    death(bdSeq: number) {
      return send('NDEATH', [{ name: 'bdSeq', type: 'UInt64', value: bdSeq }], false);
    },
  };
}

describe('Sparkplug B input (real broker, real onnxruntime)', () => {
  it('asks an unknown edge node to rebirth, then windows its aliased DDATA into results', async () => {
    const pipeline = await startPipeline({
      input: { topic: 'spBv1.0/plant1/#', format: 'sparkplug', sparkplug: { metrics: ['Temperature'] } },
      results: { qos: 1 },
    });
    const gw1 = edgeNode();
    // The agent started after gw1's birth: data arrives first, and the agent asks for a rebirth.
    await gw1.data(60.1, T0 - 1);
    await sparkplug.until(
      (m) => m.some((x) => x.topic === 'spBv1.0/plant1/NCMD/gw1'),
      'an NCMD rebirth to gw1',
    );
    const ncmd = sparkplug.of('NCMD')[0]!.payload;
    expect(ncmd.metrics).toEqual([expect.objectContaining({ name: 'Node Control/Rebirth', value: true })]);
    await errors.until(
      (m) => m.some((x) => x.body.reason === 'sparkplug_no_birth'),
      'a sparkplug_no_birth report',
    );

    await gw1.birth(1);
    const stream = createSensorStream({ kind: 'temperature', seed: 5 });
    for (let i = 1; i <= 39; i++) await gw1.data(stream.next(), T0 + i * 1000);
    // The birth's value plus 39 DDATA values: 40 samples, window 32, stride 8 → 2 windows.
    await results.until((m) => m.length >= 2, 'two results from Sparkplug readings');
    for (const { body } of results.messages) {
      expect(body).toMatchObject({ pipeline: 'boiler', sensor: 'plant1/gw1/boiler/Temperature' });
      expect(body.window.size).toBe(32);
      expect(typeof body.score).toBe('number');
    }
    expect(results.messages[0]!.body.window.start).toBe(T0);
    expect(results.messages[1]!.body.window.end).toBe(T0 + 39_000);

    // A lost DDATA: the node goes stale, its next data is refused and counted.
    gw1.skip();
    await gw1.data(60, T0 + 40_000);
    await errors.until((m) => m.some((x) => x.body.reason === 'sparkplug_stale'), 'a sparkplug_stale report');
    expect(pipeline.stats().sparkplug).toMatchObject({ edgeNodes: 1, births: 1, seqGaps: 1 });
    expect(pipeline.stats().sparkplug!.rebirthsRequested).toBeGreaterThanOrEqual(1);

    // NDEATH with the birth's bdSeq forgets the node. Garbage after it is a barrier: its report
    // (a reason not reported before) comes once the pipeline has handled everything before it.
    await gw1.death(1);
    await edge.publishAsync('spBv1.0/plant1/DDATA/gw1/boiler', Buffer.from('{"t": 60}'), { qos: 1 });
    await errors.until((m) => m.some((x) => x.body.reason === 'malformed_payload'), 'the garbage report');
    expect(pipeline.stats().sparkplug).toMatchObject({ edgeNodes: 0, deaths: 1 });
    expect(pipeline.stats().rejected).toMatchObject({ sparkplug_stale: 1, malformed_payload: 1 });
  });
});

describe('Sparkplug B results (real broker, real onnxruntime)', () => {
  it('publishes NBIRTH, a DBIRTH per new sensor and DDATA by alias, rebirths on NCMD and dies on stop', async () => {
    const pipeline = await startPipeline({
      input: { topic: 'plant/+/temperature', format: 'number', sensor: { from: 'level', level: 1 } },
      results: { qos: 1, sparkplug: { group: 'fieldmesh', edgeNode: 'agent-1' } },
    });
    await sparkplug.until((m) => m.length >= 1, 'NBIRTH at start');
    const nbirth = sparkplug.messages[0]!;
    expect(nbirth.topic).toBe('spBv1.0/fieldmesh/NBIRTH/agent-1');
    expect(seqOf(nbirth.payload)).toBe(0);
    const bdSeq = num(nbirth.payload.metrics?.find((m) => m.name === 'bdSeq')?.value);

    const stream = createSensorStream({ kind: 'temperature', seed: 6 });
    for (let i = 0; i < 40; i++)
      await observer.publishAsync('plant/m1/temperature', String(stream.next()), { qos: 1 });
    await results.until((m) => m.length >= 2, 'two JSON results');
    await sparkplug.until((m) => m.some((x) => x.topic.includes('/DDATA/')), 'a Sparkplug DDATA result');

    // The first result of sensor m1 came as the device's DBIRTH declaring its metrics, with values.
    const dbirth = sparkplug.of('DBIRTH');
    expect(dbirth.map((m) => m.topic)).toEqual(['spBv1.0/fieldmesh/DBIRTH/agent-1/boiler']);
    const birth = dbirth[0]!.payload;
    const score = birth.metrics?.find((m) => m.name === 'm1/score');
    expect(score).toMatchObject({ type: 'Double', value: results.messages[0]!.body.score });
    const alias = num(score?.alias);
    const ddata = sparkplug.of('DDATA')[0]!.payload;
    expect(ddata.metrics?.every((m) => m.name === undefined)).toBe(true);
    expect(ddata.metrics?.find((m) => num(m.alias) === alias)?.value).toBe(results.messages[1]!.body.score);
    const seqs = sparkplug.messages.filter((m) => !m.topic.includes('/NCMD/')).map((m) => seqOf(m.payload));
    expect(seqs).toEqual(seqs.map((_, i) => i)); // 0, 1, 2, … with no gap

    // A SCADA host asks for a rebirth: NBIRTH (seq 0, same bdSeq) and a DBIRTH with m1's metrics.
    const before = sparkplug.messages.length;
    const rebirth = spb.encodePayload({
      timestamp: Date.now(),
      metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }],
    });
    await observer.publishAsync('spBv1.0/fieldmesh/NCMD/agent-1', Buffer.from(rebirth), { qos: 1 });
    await sparkplug.until(
      (m) => m.slice(before).filter((x) => !x.topic.includes('/NCMD/')).length >= 2,
      'a rebirth',
    );
    const [again, dagain] = sparkplug.messages.slice(before).filter((x) => !x.topic.includes('/NCMD/'));
    expect(again!.topic).toBe('spBv1.0/fieldmesh/NBIRTH/agent-1');
    expect(seqOf(again!.payload)).toBe(0);
    expect(num(again!.payload.metrics?.find((m) => m.name === 'bdSeq')?.value)).toBe(bdSeq);
    expect(dagain!.payload.metrics?.map((m) => m.name)).toContain('m1/score');

    await pipeline.stop();
    running.length = 0;
    await sparkplug.until((m) => m.some((x) => x.topic.includes('/NDEATH/')), 'NDEATH on stop');
    expect(sparkplug.of('DDEATH').map((m) => m.topic)).toEqual(['spBv1.0/fieldmesh/DDEATH/agent-1/boiler']);
    const death = sparkplug.of('NDEATH')[0]!.payload;
    expect(num(death.metrics?.find((m) => m.name === 'bdSeq')?.value)).toBe(bdSeq);
  });
});

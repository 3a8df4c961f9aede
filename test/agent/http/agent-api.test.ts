import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentApi } from '../../../agent/http/agent-api.js';
import { createSensorStream } from '../../../models/generate/synthetic.js';
import { type ApiAgent, call, sample, startApiAgent, until } from './api-client.js';

/** A real agent with its embedded broker and a token-protected operator API on a free port. */
const TOKEN = 'test-token-0123456789abcdef';
let setup: ApiAgent;
let api: AgentApi;
let sensors: MqttClient;
let base: string;

beforeAll(async () => {
  setup = await startApiAgent('api-node', TOKEN);
  ({ api, sensors } = setup);
  base = api.url as string;
}, 30_000);

afterAll(async () => {
  await setup?.stop();
});

async function publishReadings(machine: string, n: number, seed: number): Promise<void> {
  const stream = createSensorStream({ kind: 'vibration', seed });
  for (let i = 0; i < n; i++) {
    await sensors.publishAsync(`plant/${machine}/vibration`, JSON.stringify({ value: stream.next() }), {
      qos: 1,
    });
  }
}

const metrics = async () => (await call(`${base}/metrics`, { token: TOKEN })).text;

describe('operator API of a running agent', () => {
  it('answers the probes without a token: alive and ready', async () => {
    expect((await call(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await call(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ ready: true, reasons: [] });
  });

  it('refuses everything else without the right bearer token', async () => {
    for (const token of [undefined, 'wrong-token-0123456789']) {
      const r = await call(`${base}/metrics`, token === undefined ? {} : { token });
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ code: 'API_UNAUTHORIZED', error: expect.stringMatching(/Bearer/) });
    }
    expect((await call(`${base}/v1/status`, { token: TOKEN })).status).toBe(200);
  });

  it('streams a result event to a dashboard as readings come in', async () => {
    const abort = new AbortController();
    const res = await fetch(`${base}/v1/events`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: abort.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const got = (async () => {
      while (!text.includes('event: result\n')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    })();
    await publishReadings('sse-press', 32, 7);
    await until(async () => text.includes('event: result\n'), 'an SSE result event');
    abort.abort();
    await got.catch(() => undefined);
    expect(text).toMatch(/^event: status\ndata: \{.*"uptimeSeconds"/m);
    const data = text.split('event: result\ndata: ')[1]?.split('\n')[0] ?? '';
    expect(JSON.parse(data)).toMatchObject({
      pipeline: 'vibration',
      sensor: 'sse-press',
      seq: expect.any(Number),
    });
  });

  it('counts real readings in /metrics: in, out, rejected by reason, latency histogram', async () => {
    const before = await metrics();
    const inBefore = sample(before, 'fieldmesh_messages_in_total{pipeline="vibration"}') ?? 0;
    const outBefore = sample(before, 'fieldmesh_messages_out_total{pipeline="vibration"}') ?? 0;
    await publishReadings('press-1', 40, 3); // window 32, stride 4: three results
    await sensors.publishAsync('plant/press-1/vibration', '{not json', { qos: 1 });
    const rejected = 'fieldmesh_messages_rejected_total{pipeline="vibration",reason="malformed_payload"}';
    await until(async () => {
      const m = await metrics();
      return (
        (sample(m, 'fieldmesh_messages_out_total{pipeline="vibration"}') ?? 0) >= outBefore + 3 &&
        sample(m, rejected) === 1
      );
    }, 'three more results and one malformed reading in /metrics');
    const text = await metrics();
    expect(sample(text, 'fieldmesh_messages_in_total{pipeline="vibration"}')).toBe(inBefore + 41);
    expect(sample(text, 'fieldmesh_up')).toBe(1);
    expect(sample(text, 'fieldmesh_mqtt_connected')).toBe(1);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    const heapUsed = sample(text, 'nodejs_memory_bytes{kind="heap_used"}') ?? 0;
    expect(heapUsed).toBeGreaterThan(1e6);
    expect(sample(text, 'nodejs_memory_bytes{kind="heap_total"}')).toBeGreaterThanOrEqual(heapUsed);
    expect(text).toContain('# TYPE fieldmesh_inference_seconds histogram');
    const labels = 'pipeline="vibration",model="vibration-ae"';
    const count = sample(text, `fieldmesh_inference_seconds_count{${labels}}`) ?? 0;
    expect(count).toBeGreaterThan(0);
    const buckets = text
      .split('\n')
      .filter((l) => l.startsWith(`fieldmesh_inference_seconds_bucket{${labels},`))
      .map((l) => Number(l.split(' ')[1]));
    expect(buckets.length).toBe(14);
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1] as number);
    expect(buckets.at(-1)).toBe(count);
    // Every non-comment line is `name{labels} number`.
    for (const line of text
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+$/);
    }
  });

  it('lists the latest results newest first, per pipeline and limited', async () => {
    const r = await call(`${base}/v1/results?pipeline=vibration&limit=2`, { token: TOKEN });
    expect(r.status).toBe(200);
    const results = r.json().results as { seq: number; pipeline: string; score: number; anomaly: boolean }[];
    expect(results).toHaveLength(2);
    expect((results[0] as { seq: number }).seq).toBeGreaterThan((results[1] as { seq: number }).seq);
    expect(results[0]).toMatchObject({
      pipeline: 'vibration',
      score: expect.any(Number),
      anomaly: expect.any(Boolean),
    });
    const anomalies = await call(`${base}/v1/anomalies`, { token: TOKEN });
    expect(Array.isArray(anomalies.json().anomalies)).toBe(true);
  });

  it('answers a bad query with 400 naming the parameter', async () => {
    for (const [query, name] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=100000', 'limit'],
      ['pipeline=nope', 'pipeline'],
    ] as const) {
      const r = await call(`${base}/v1/results?${query}`, { token: TOKEN });
      expect(r.status).toBe(400);
      expect(r.json()).toMatchObject({ code: 'API_BAD_QUERY', error: expect.stringContaining(name) });
    }
  });

  it('serves the parts of status, with a reason for the parts that are off', async () => {
    const status = (await call(`${base}/v1/status`, { token: TOKEN })).json();
    expect(status).toMatchObject({ mqtt: { connected: true }, uptimeSeconds: expect.any(Number) });
    expect((await call(`${base}/v1/pipelines`, { token: TOKEN })).json().pipelines).toHaveLength(1);
    expect((await call(`${base}/v1/models`, { token: TOKEN })).json().models).toHaveLength(1);
    expect((await call(`${base}/v1/peers`, { token: TOKEN })).json()).toMatchObject({
      peers: [],
      reason: expect.stringMatching(/mesh/),
    });
    expect((await call(`${base}/v1/receipts`, { token: TOKEN })).json()).toMatchObject({ receipts: null });
  });

  it('answers unknown paths with 404 listing the paths, wrong methods with 405, no log control with 404', async () => {
    const missing = await call(`${base}/nope`, { token: TOKEN });
    expect(missing.status).toBe(404);
    expect(missing.json().error).toMatch(/\/metrics.*\/v1\/results/);
    const post = await call(`${base}/v1/status`, { method: 'POST', token: TOKEN });
    expect(post.status).toBe(405);
    expect(post.json().code).toBe('API_METHOD_NOT_ALLOWED');
    const levels = await call(`${base}/v1/log-levels`, { token: TOKEN });
    expect(levels.status).toBe(404);
    expect(levels.json().code).toBe('LOG_LEVELS_UNAVAILABLE');
  });
});

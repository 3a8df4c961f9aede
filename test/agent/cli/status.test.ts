import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, SensorPublisher, VIBRATION_MANIFEST } from '../../helpers/agent-process.js';
import { closedPort } from '../../helpers/broker.js';
import { withTimeout } from '../../helpers/wait-for.js';
import { runCli } from './run-cli.js';

const TOKEN = 'status-test-token-0123456789';
// The child must decide colour for itself: no FORCE_COLOR or NO_COLOR inherited from the runner.
const PLAIN = { FORCE_COLOR: undefined, NO_COLOR: undefined, FIELDMESH_API_TOKEN: undefined };
const ESC = '\u001b';

function expectScreen(stdout: string): void {
  expect(stdout).not.toContain(ESC);
  for (const line of stdout.trimEnd().split('\n')) expect([...line].length).toBeLessThanOrEqual(80);
  expect(stdout.trimEnd().split('\n').length).toBeLessThanOrEqual(24);
}

describe('fieldmesh status against a running agent', () => {
  let work: string;
  let config: string;
  let apiPort: number;
  let agent: AgentProcess;
  let sensors: SensorPublisher | undefined;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'fm-status-'));
    apiPort = await closedPort();
    const brokerPort = await closedPort();
    config = path.join(work, 'agent.yaml');
    const doc = {
      node: { name: 'status-node', dataDir: path.join(work, 'data') },
      log: { level: 'info' },
      broker: { enabled: true, host: '127.0.0.1', port: brokerPort, auth: { allowAnonymous: true } },
      // 0.0.0.0 needs a token, and status must ask 127.0.0.1 instead.
      api: { host: '0.0.0.0', port: apiPort, token: TOKEN },
      models: [{ id: 'vibration-ae', manifest: VIBRATION_MANIFEST, warmupRuns: 1 }],
      pipelines: [
        {
          id: 'vib',
          model: 'vibration-ae',
          input: { topic: 'plant/+/vibration', format: 'number', sensor: { from: 'level', level: 1 } },
          window: { stride: 4 },
        },
      ],
    };
    await writeFile(config, `${JSON.stringify(doc, null, 2)}\n`);
    agent = new AgentProcess(config);
    await agent.waitForMessage('operator API listening', 30_000);
    // Some readings, so that the screen shows counters and a latency from /metrics.
    sensors = await SensorPublisher.start(`mqtt://127.0.0.1:${brokerPort}`, ['plant/m1/vibration'], {
      seed: 7,
      intervalMs: 5,
    });
    await withTimeout(resultsSeen(`http://127.0.0.1:${apiPort}`), 'the first results', 20_000);
  });

  afterAll(async () => {
    await sensors?.stop();
    if (agent?.running) await agent.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  });

  it('prints one screen, 80 columns, no colour in a pipe, and exits 0 when ready', async () => {
    const run = await runCli(['status', '--config', config], { env: PLAIN });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('status-node');
    expect(run.stdout).toMatch(/^ {2}vib +running +\d+ +\d+ +\d+ +\d+$/m);
    expect(run.stdout).toContain(`http://127.0.0.1:${apiPort}`);
    expect(run.stdout).toContain('vibration-ae');
    expect(run.stdout).toMatch(/^ {4}p50 [\d.]+ ms {2}p95 [\d.]+ ms/m);
    expectScreen(run.stdout);
    console.log(`fieldmesh status, as printed:\n${run.stdout}`);
  });

  it('prints the merged JSON with --json', async () => {
    const run = await runCli(['status', '--config', config, '--json'], { env: PLAIN });
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout) as {
      ready: boolean;
      pipelines: { id: string }[];
      node: { name: string };
    };
    expect(doc.ready).toBe(true);
    expect(doc.node.name).toBe('status-node');
    expect(doc.pipelines.map((p) => p.id)).toEqual(['vib']);
  });

  it('exits 2 and says how to give the token when the API wants one', async () => {
    const url = `http://127.0.0.1:${apiPort}`;
    const run = await runCli(['status', '--url', url], { env: PLAIN });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--token');
    expect(run.stderr).toContain('FIELDMESH_API_TOKEN');
    expect(run.stderr).not.toContain(ESC);
    const withEnv = await runCli(['status', '--url', url], { env: { ...PLAIN, FIELDMESH_API_TOKEN: TOKEN } });
    expect(withEnv.code).toBe(0);
  });

  it('exits 4 naming the URL it tried once the agent has stopped', async () => {
    await agent.kill('SIGTERM');
    const run = await runCli(['status', '--config', config], { env: PLAIN });
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(`http://127.0.0.1:${apiPort}`);
    expect(run.stderr).toContain('--url');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

/** Resolves once the agent has published results (the API is asked every 100 ms). */
async function resultsSeen(url: string): Promise<void> {
  for (;;) {
    const response = await fetch(`${url}/v1/pipelines`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = (await response.json()) as { pipelines: { results: number }[] };
    if ((body.pipelines[0]?.results ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A stand-in operator API for states a real agent does not stay in (started but not ready, a
 * crowd of peers): these tests check the CLI's rendering and exit codes only.
 */
describe('fieldmesh status rendering (fake operator API)', () => {
  let server: http.Server;
  let url: string;
  const peers = Array.from({ length: 30 }, (_, i) => ({ id: `12D3KooWpeer${i}`, name: `gateway-${i}` }));
  const status = {
    node: { id: '12D3KooWFakeNodeIdFakeNodeIdFakeNodeIdFakeNodeId1234', name: 'fake-node', version: '9.9.9' },
    mqtt: { url: 'mqtt://broker.plant.lan:1883', connected: false },
    models: [{ id: 'vibration-ae', version: '1.0.0', sha256: 'ab', runs: 10, failures: 0 }],
    pipelines: [
      {
        id: 'line-1-vibration-with-a-very-long-pipeline-name-that-goes-on-and-on',
        state: 'running',
        readings: 1200,
        windows: 40,
        results: 40,
        anomalies: 3,
        inferenceFailures: 0,
        queueDropped: 0,
        queueDepth: 2,
        offloading: 0,
        sensors: 4,
        rejected: { out_of_order: 7, not_a_number: 2, malformed_payload: 1, missing_field: 1 },
      },
    ],
    failures: [],
    mesh: { peers },
    receipts: {
      pending: 12,
      inFlightBatch: null,
      appended: 50,
      refused: 0,
      acknowledgedReceipts: 38,
      lastAckAtMs: null,
      lastError: null,
      url: 'http://x',
    },
    uptimeSeconds: 3725,
  };
  const metrics = [
    'fieldmesh_inference_seconds_bucket{pipeline="line-1-vibration-with-a-very-long-pipeline-name-that-goes-on-and-on",model="vibration-ae",le="0.001"} 0',
    'fieldmesh_inference_seconds_bucket{pipeline="line-1-vibration-with-a-very-long-pipeline-name-that-goes-on-and-on",model="vibration-ae",le="0.002"} 10',
    'fieldmesh_inference_seconds_bucket{pipeline="line-1-vibration-with-a-very-long-pipeline-name-that-goes-on-and-on",model="vibration-ae",le="+Inf"} 10',
  ].join('\n');

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const send = (code: number, body: string, type = 'application/json') =>
        res.writeHead(code, { 'content-type': type }).end(body);
      if (req.url === '/readyz')
        send(
          503,
          JSON.stringify({
            ready: false,
            reasons: ['MQTT is not connected to mqtt://broker.plant.lan:1883'],
          }),
        );
      else if (req.url === '/v1/status') send(200, JSON.stringify(status));
      else if (req.url === '/metrics') send(200, `${metrics}\n`, 'text/plain');
      else send(404, '{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('exits 6 with the reasons when the node answers but is not ready', async () => {
    const run = await runCli(['status', '--url', url], { env: PLAIN });
    expect(run.code).toBe(6);
    expect(run.stdout).toContain('no: MQTT is not connected to mqtt://broker.plant.lan:1883');
    expect(run.stdout).toMatch(/^ {2}line-1-vibration-with… running +1200 +40 +3 +2$/m);
    expect(run.stdout).toMatch(
      /^ {4}p50 1\.50 ms {2}p95 1\.95 ms {2}rejected 11 \(out_of_order 7, not_a_number 2, …\)$/m,
    );
    expect(run.stdout).toContain('12 pending, 38 acknowledged');
    expect(run.stdout).toMatch(/peers +30: gateway-0, .* … and \d+ more/);
    expect(run.stdout).toContain('up 1h 02m');
    expectScreen(run.stdout);
    console.log(`fieldmesh status of a node that is not ready:\n${run.stdout}`);
  });

  it('colours with FORCE_COLOR=1 and still fits 80 columns', async () => {
    const run = await runCli(['status', '--url', url], { env: { ...PLAIN, FORCE_COLOR: '1' } });
    expect(run.code).toBe(6);
    expect(run.stdout).toContain(ESC);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escapes
    const visible = run.stdout.replace(/\u001b\[[0-9;]*m/g, '');
    for (const line of visible.trimEnd().split('\n')) expect([...line].length).toBeLessThanOrEqual(80);
  });

  it('--watch redraws in a pipe without clearing the screen, and stops on SIGTERM with 0', async () => {
    const child = spawn(
      process.execPath,
      [path.resolve('bin/fieldmesh.js'), 'status', '--url', url, '--watch'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH },
      },
    );
    let out = '';
    const twoScreens = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('fake-node').length > 2) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await withTimeout(twoScreens, 'two status screens', 10_000);
    child.kill('SIGTERM');
    expect(await withTimeout(exited, 'status --watch to exit', 5_000)).toBe(0);
    expect(out).not.toContain(ESC);
  });
});

import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activity } from '../../../agent/activity.js';
import { Agent, type AgentStatus } from '../../../agent/agent.js';
import { validateConfig } from '../../../agent/config/load.js';
import { type AgentApi, createAgentApi } from '../../../agent/http/agent-api.js';
import { quietLogger } from '../../helpers/broker.js';
import { runCli } from '../cli/run-cli.js';
import { type ApiAgent, call, startApiAgent, until } from '../http/api-client.js';

/**
 * `POST /v1/models/<id>/fetch` and `fieldmesh models fetch`, against real agents: one with the
 * mesh off for the refusals, and two meshed on loopback (mDNS included) for the fetch itself —
 * a provider that runs both example models, and a node that has their manifests only.
 */
const TOKEN = 'model-fetch-token-0123456';
const EXAMPLES = path.resolve('models/examples');
const MODELS = ['vibration-ae', 'temperature-ae'] as const;
// A port of its own: another test's mesh on 5353 must not answer this one.
const MDNS_PORT = 20_000 + (process.pid % 20_000);
let work: string;
let meshOff: ApiAgent;
let provider: Agent;
let needy: Agent;
let api: AgentApi;

const manifestOf = (id: string) => path.join(EXAMPLES, id, 'manifest.json');
const modelFileOf = (id: string) => path.join(EXAMPLES, id, 'model.onnx');

function meshedConfig(name: string, models: { id: string; manifest: string }[], slots: number) {
  return validateConfig(
    {
      node: { name, dataDir: path.join(work, name) },
      log: { level: 'silent' },
      broker: { enabled: true, port: 0, storage: 'memory', auth: { allowAnonymous: true } },
      api: { port: 0, token: TOKEN },
      mesh: {
        enabled: true,
        interface: '127.0.0.1',
        mdnsPort: MDNS_PORT,
        queryIntervalMs: 300,
        refreshMs: 400,
        electionWaitMs: 1_000,
        api: { host: '127.0.0.1', port: 0 },
        offload: { slots },
      },
      models: models.map((m) => ({ ...m, warmupRuns: 1 })),
      pipelines: [
        {
          id: 'vibration',
          model: 'vibration-ae',
          input: { topic: 'plant/+/vibration', format: 'number', sensor: { from: 'level', level: 1 } },
        },
      ],
    },
    `${name}.yaml`,
    { env: {} },
  );
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-fetch-request-'));
  const bare = [];
  for (const id of MODELS) {
    // A manifest without its .onnx beside it: the file must come from a peer.
    const dir = path.join(work, 'bare', id);
    await mkdir(dir, { recursive: true });
    await copyFile(manifestOf(id), path.join(dir, 'manifest.json'));
    bare.push({ id, manifest: path.join(dir, 'manifest.json') });
  }
  // Started alone, it waits for a peer for its pipeline's model, then gives up on it.
  const needyConfig = meshedConfig('needy', bare, 0);
  api = createAgentApi(needyConfig, { logger: quietLogger });
  needy = new Agent(needyConfig, { logger: quietLogger, pipelineObserver: api.observer });
  await needy.start();
  await api.start(needy);
  provider = new Agent(
    meshedConfig(
      'provider',
      MODELS.map((id) => ({ id, manifest: manifestOf(id) })),
      1,
    ),
    { logger: quietLogger },
  );
  await provider.start();
  meshOff = await startApiAgent('fetch-mesh-off', TOKEN, undefined, {
    models: MODELS.map((id) => ({ id, manifest: manifestOf(id) })),
  });
}, 60_000);

afterAll(async () => {
  await meshOff?.stop();
  await api?.stop();
  await needy?.stop();
  await provider?.stop();
  await rm(work, { recursive: true, force: true });
});

const post = (url: string | undefined, id: string) =>
  call(`${url}/v1/models/${encodeURIComponent(id)}/fetch`, { method: 'POST', token: TOKEN });

async function status(): Promise<AgentStatus> {
  return (await call(`${api.url}/v1/status`, { token: TOKEN })).json() as unknown as AgentStatus;
}

describe('POST /v1/models/<id>/fetch', () => {
  it('refuses an unknown id, a loaded model, and a fetch with the mesh off', async () => {
    const unknown = await post(meshOff.api.url, 'no-such-model');
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ code: 'MODEL_UNKNOWN' });
    expect(unknown.json().error).toContain('vibration-ae, temperature-ae');
    const loaded = await post(meshOff.api.url, 'vibration-ae');
    expect(loaded.status).toBe(409);
    expect(loaded.json()).toMatchObject({ code: 'MODEL_PRESENT' });
    // Configured, used by no pipeline, so not loaded: only the mesh could bring it.
    const off = await post(meshOff.api.url, 'temperature-ae');
    expect(off.status).toBe(409);
    expect(off.json()).toMatchObject({ code: 'MESH_OFF' });
  });

  it('fetches a missing model from a peer, loads it and starts the pipeline that waited', async () => {
    const before = await status();
    expect(before.models.map((m) => m.id)).not.toContain('vibration-ae');
    expect(before.failures.map((f) => f.part)).toEqual(['model vibration-ae', 'pipeline vibration']);
    const size = (await stat(modelFileOf('vibration-ae'))).size;

    const answer = await post(api.url, 'vibration-ae');
    expect(answer.status, answer.text).toBe(202);
    const id = answer.json().activity as string;
    expect(id).toMatch(/^model-fetch-/);
    let last: Activity | undefined;
    await until(
      async () => {
        last = (await status()).activities?.find((a) => a.id === id);
        return last !== undefined && last.state !== 'running';
      },
      'the fetch to end',
      20_000,
    );
    expect(last).toMatchObject({ kind: 'model-fetch', unit: 'bytes', state: 'done', done: size });
    await until(
      async () => (await status()).pipelines.some((p) => p.id === 'vibration' && p.state === 'running'),
      'the waiting pipeline to run',
    );
    const after = await status();
    expect(after.models.map((m) => m.id)).toContain('vibration-ae');
    expect(after.failures).toEqual([]);
    expect(existsSync(path.join(work, 'bare', 'vibration-ae', 'model.onnx'))).toBe(true);
  }, 40_000);

  it('`fieldmesh models fetch` draws the fetch in a pipe and exits 0 once the model is loaded', async () => {
    const size = (await stat(modelFileOf('temperature-ae'))).size;
    const run = await runCli(['models', 'fetch', 'temperature-ae', '--url', api.url ?? '', '--token', TOKEN]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(
      new RegExp(`^ok fetched model temperature-ae, ${size} bytes in \\d+\\.\\d s, digest ok$`),
    );
    expect(run.stdout).not.toContain('\u001b');
    expect((await status()).models.map((m) => m.id)).toContain('temperature-ae');
  }, 30_000);
});

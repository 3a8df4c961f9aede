import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { Agent } from '../../../agent/agent.js';
import { validateConfig } from '../../../agent/config/load.js';
import type { Config } from '../../../agent/config/schema.js';
import { type AgentApi, createAgentApi } from '../../../agent/http/agent-api.js';
import { connectTestClient, quietLogger } from '../../helpers/broker.js';

/** HTTP helpers for the operator API tests. */
export interface Reply {
  status: number;
  text: string;
  headers: Headers;
  json(): Record<string, unknown>;
}

export async function call(url: string, init: RequestInit & { token?: string } = {}): Promise<Reply> {
  const { token, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(url, { ...rest, headers });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers, json: () => JSON.parse(text) };
}

/** The value of one sample line (`name{labels} value`), or undefined when there is none. */
export function sample(metrics: string, nameAndLabels: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${nameAndLabels} `));
  return line === undefined ? undefined : Number(line.slice(nameAndLabels.length + 1));
}

/** Polls `check` until it returns true; a condition the test waits for, with a timeout. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A real agent (embedded broker, the vibration example model) whose token-protected operator API is started. */
export interface ApiAgent {
  readonly work: string;
  readonly config: Config;
  readonly agent: Agent;
  readonly api: AgentApi;
  /** A client for publishing readings on `plant/<machine>/vibration` to the agent's broker. */
  readonly sensors: MqttClient;
  stop(): Promise<void>;
}

export async function startApiAgent(
  name: string,
  token: string,
  dashboardDir?: string,
  /** Top-level config sections replacing the defaults below (`settlement:` for receipts, …). */
  sections: Record<string, unknown> = {},
): Promise<ApiAgent> {
  const work = await mkdtemp(path.join(tmpdir(), `fm-${name}-`));
  const config = validateConfig(
    {
      node: { name, dataDir: path.join(work, 'data') },
      log: { level: 'silent' },
      broker: { enabled: true, port: 0, storage: 'memory', auth: { allowAnonymous: true } },
      api: { port: 0, token },
      models: [{ id: 'vibration-ae', manifest: path.resolve('models/examples/vibration-ae/manifest.json') }],
      pipelines: [
        {
          id: 'vibration',
          model: 'vibration-ae',
          input: { topic: 'plant/+/vibration', field: 'value', sensor: { from: 'level', level: 1 } },
          window: { stride: 4 },
        },
      ],
      ...sections,
    },
    `${name}.yaml`,
    { env: {} },
  );
  const api = createAgentApi(config, { logger: quietLogger, ...(dashboardDir ? { dashboardDir } : {}) });
  const agent = new Agent(config, { logger: quietLogger, pipelineObserver: api.observer });
  await agent.start();
  await api.start(agent);
  const sensors = await connectTestClient(agent.brokerUrl ?? '', { clientId: `${name}-sensors` });
  return {
    work,
    config,
    agent,
    api,
    sensors,
    stop: async () => {
      await sensors.endAsync(true);
      await api.stop();
      await agent.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

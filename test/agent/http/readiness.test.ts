import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../../agent/agent.js';
import { validateConfig } from '../../../agent/config/load.js';
import type { ConfigInput } from '../../../agent/config/schema.js';
import { type AgentApi, createAgentApi } from '../../../agent/http/agent-api.js';
import type { LogLevelControl } from '../../../agent/http/log-levels.js';
import { RecentActivity } from '../../../agent/http/recent.js';
import { createAgentApiServer } from '../../../agent/http/server.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { quietLogger, startTestBroker } from '../../helpers/broker.js';
import { call, until } from './api-client.js';

let work: string;
let site: EmbeddedBroker;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-api-ready-'));
  site = await startTestBroker();
});
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(async () => {
  await site.stop();
  await rm(work, { recursive: true, force: true });
});

function config(manifest: string, api: ConfigInput['api'] = { port: 0 }, url = site.url) {
  return validateConfig(
    {
      node: { name: 'ready-node', dataDir: path.join(work, `data-${cleanup.length}-${Date.now()}`) },
      log: { level: 'silent' },
      mqtt: { url, connectTimeoutMs: 3000, reconnect: { minMs: 20, maxMs: 200 } },
      api,
      models: [{ id: 'vibration-ae', manifest }],
      pipelines: [
        {
          id: 'vibration',
          model: 'vibration-ae',
          input: { topic: 'plant/+/vibration', field: 'value', sensor: { from: 'level', level: 1 } },
        },
      ],
    },
    'ready.yaml',
    { env: {} },
  );
}

const VIB = path.resolve('models/examples/vibration-ae/manifest.json');

async function startBoth(cfg: ReturnType<typeof config>): Promise<{ agent: Agent; api: AgentApi }> {
  const api = createAgentApi(cfg, { logger: quietLogger });
  const agent = new Agent(cfg, { logger: quietLogger, pipelineObserver: api.observer });
  cleanup.push(() => agent.stop());
  await agent.start();
  cleanup.push(() => api.stop());
  await api.start(agent);
  return { agent, api };
}

describe('readiness', () => {
  it('is 503 with a reason before the agent has started', async () => {
    const agent = new Agent(config(VIB), { logger: quietLogger });
    const server = createAgentApiServer(
      { host: '127.0.0.1', port: 0 },
      {
        logger: quietLogger,
        recent: new RecentActivity(),
        status: () => agent.status(),
        started: () => false,
        brokerExpected: () => false,
      },
    );
    await server.start();
    cleanup.push(() => server.stop());
    const r = await call(`${server.url}/readyz`);
    expect(r.status).toBe(503);
    expect(r.json()).toEqual({ ready: false, reasons: ['the agent has not finished starting'] });
    expect((await call(`${server.url}/healthz`)).status).toBe(200);
  });

  it('is 503 naming MQTT once the site broker goes away, and 200 before that', async () => {
    const own = await startTestBroker();
    cleanup.push(() => own.stop());
    const { api } = await startBoth(config(VIB, { port: 0 }, own.url));
    expect((await call(`${api.url}/readyz`)).status).toBe(200);
    await own.stop();
    await until(async () => (await call(`${api.url}/readyz`)).status === 503, 'readyz to turn 503');
    const r = (await call(`${api.url}/readyz`)).json();
    expect(r.ready).toBe(false);
    expect(r.reasons).toEqual([expect.stringMatching(/^MQTT is not connected to mqtt:\/\/127\.0\.0\.1:/)]);
  });

  it('is 503 saying no pipeline runs when the model did not load', async () => {
    const { api } = await startBoth(config(path.join(work, 'missing/manifest.json')));
    const r = await call(`${api.url}/readyz`);
    expect(r.status).toBe(503);
    expect((r.json().reasons as string[]).join()).toMatch(/no pipeline runs \(model vibration-ae: /);
  });
});

describe('listening', () => {
  it('fails with API_LISTEN_FAILED naming host:port when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const api = createAgentApi(config(VIB, { port }), { logger: quietLogger });
    const agent = new Agent(config(VIB), { logger: quietLogger });
    await expect(api.start(agent)).rejects.toMatchObject({
      code: 'API_LISTEN_FAILED',
      message: expect.stringMatching(new RegExp(`127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\).*api\\.port`)),
    });
  });
});

describe('log levels', () => {
  it('shows and changes levels through the injected control, refusing unknown level names', async () => {
    const levels: Record<string, string> = { '*': 'info' };
    const control: LogLevelControl = {
      levels: () => ({ ...levels }),
      set: (component, level) => {
        levels[component ?? '*'] = level;
      },
    };
    const server = createAgentApiServer(
      { host: '127.0.0.1', port: 0 },
      {
        logger: quietLogger,
        recent: new RecentActivity(),
        status: () => {
          throw new Error('not needed');
        },
        started: () => true,
        brokerExpected: () => false,
        logLevels: control,
      },
    );
    await server.start();
    cleanup.push(() => server.stop());
    const put = (body: unknown) =>
      call(`${server.url}/v1/log-levels`, { method: 'PUT', body: JSON.stringify(body) });
    const bad = await put({ component: 'receipts', level: 'verbose' });
    expect(bad.status).toBe(400);
    expect(bad.json().error).toMatch(/level must be one of fatal, error, warn, info, debug, trace, silent/);
    expect((await put({ component: 'receipts', level: 'debug' })).json()).toEqual({
      levels: { '*': 'info', receipts: 'debug' },
    });
    expect((await put({ level: 'warn' })).status).toBe(200);
    expect((await call(`${server.url}/v1/log-levels`)).json()).toEqual({
      levels: { '*': 'warn', receipts: 'debug' },
    });
  });
});

describe('event streams', () => {
  it('refuses a stream past the bound with 503, and takes one again once a client leaves', async () => {
    const server = createAgentApiServer(
      { host: '127.0.0.1', port: 0, sse: { maxClients: 1 } },
      {
        logger: quietLogger,
        recent: new RecentActivity(),
        status: () => ({}) as never,
        started: () => true,
        brokerExpected: () => false,
      },
    );
    await server.start();
    cleanup.push(() => server.stop());
    const first = new AbortController();
    const open = await fetch(`${server.url}/v1/events`, { signal: first.signal });
    expect(open.status).toBe(200);
    const full = await call(`${server.url}/v1/events`);
    expect(full.status).toBe(503);
    expect(full.json().code).toBe('API_SSE_FULL');
    first.abort();
    await until(async () => {
      const again = new AbortController();
      const r = await fetch(`${server.url}/v1/events`, { signal: again.signal });
      again.abort();
      return r.status === 200;
    }, 'a stream slot to free up');
  });
});

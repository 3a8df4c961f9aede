import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../../agent/agent.js';
import type { Config } from '../../../agent/config/schema.js';
import { buildDashboard } from '../../../agent/dashboard/build.js';
import { type AgentApi, createAgentApi } from '../../../agent/http/agent-api.js';
import { createSensorStream } from '../../../models/generate/synthetic.js';
import { closedPort, quietLogger } from '../../helpers/broker.js';
import { testIdentity } from '../../helpers/receipts.js';
import { startTestSettlement, type TestSettlement } from '../../helpers/settlement-service.js';
import { type ApiAgent, call, startApiAgent } from '../http/api-client.js';

/**
 * The dashboard in a real (headless) Chromium, against a real agent: embedded broker, the
 * example vibration model, a token-protected operator API, readings published over MQTT.
 * Its settlement service is down at first (receipts wait in the outbox), then comes up for
 * an outbox drain and an epoch close the page shows.
 */
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dashboard-token-0123456789';
const HOSTILE = '<img src=x onerror=alert(1)>';
const SCREENSHOT = path.resolve('test-artifacts/dashboard.png');
const SERVICE = testIdentity(43);
let settlementPort: number;
let settlement: TestSettlement | undefined;
let work: string;
let setup: ApiAgent;
let config: Config;
let dashboardDir: string;
let agent: Agent;
let api: AgentApi;
let sensors: MqttClient;
let browser: Browser;
let page: Page;
const problems: string[] = [];
const dialogs: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: run \`apt-get install chromium\` (as .ci/run does)`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'fm-dash-build-'));
  dashboardDir = path.join(dir, 'dashboard');
  await buildDashboard(dashboardDir);
  settlementPort = await closedPort();
  setup = await startApiAgent('dash-node', TOKEN, dashboardDir, {
    settlement: {
      url: `http://127.0.0.1:${settlementPort}`,
      servicePublicKey: SERVICE.peerId,
      requestTimeoutMs: 1_000,
      backoff: { minMs: 50, maxMs: 500 },
      // Nothing is sent before the test flushes: the drain is the one the page shows.
      batch: { maxAgeMs: 3_600_000 },
      creditsPollMs: 200,
    },
  });
  ({ config, agent, api, sensors } = setup);
  work = dir;
  await publish('press-1', healthy(1, 64));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await openPage(TOKEN);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await api?.stop(); // the last one started: a test restarts it
  await setup?.stop();
  await settlement?.close();
  await rm(work, { recursive: true, force: true });
});

function healthy(seed: number, n: number): number[] {
  const s = createSensorStream({ kind: 'vibration', seed });
  return Array.from({ length: n }, () => s.next());
}

function faulty(seed: number, n: number): number[] {
  const s = createSensorStream({ kind: 'vibration', seed, fault: { type: 'growth', startAt: 0 } });
  return Array.from({ length: n }, () => s.next());
}

async function publish(machine: string, values: number[]): Promise<void> {
  for (const value of values) {
    await sensors.publishAsync(`plant/${machine}/vibration`, JSON.stringify({ value }), { qos: 1 });
  }
}

/** A phone-width page; with `token`, as if it had been typed in before (sessionStorage). */
async function openPage(token?: string, seen: string[] = problems): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  if (token !== undefined) {
    // A string: this runs in the page, whose globals Node's types do not know.
    await context.addInitScript({
      content: `sessionStorage.setItem('fieldmesh.api-token', ${JSON.stringify(token)})`,
    });
  }
  const p = await context.newPage();
  p.on('console', (m) => {
    if (m.type() === 'error') seen.push(`console: ${m.text()}`);
  });
  p.on('pageerror', (e) => seen.push(`page error: ${e.message}`));
  p.on('requestfailed', (r) => {
    // Leaving the page aborts its open event stream; that is no failure.
    if (!r.url().includes('/v1/events')) seen.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  p.on('response', (r) => {
    if (r.status() >= 400) seen.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  p.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await p.goto(`${api.url}/`);
  return p;
}

const chart = () => page.locator('[data-pipeline="vibration"] svg.chart');
const points = async () => Number(await chart().getAttribute('data-points'));

describe('dashboard in a browser', () => {
  it('loads with no console errors or failed requests and shows the node and the pipeline', async () => {
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('live');
    await expect.poll(() => page.locator('#node-name').textContent()).toContain('dash-node');
    await expect.poll(() => page.locator('.node').first().textContent()).toMatch(/dash-node this node · up/);
    const card = page.locator('article.pipeline[data-pipeline="vibration"]');
    await expect.poll(() => card.locator('.state').textContent()).toBe('running');
    await expect.poll(() => card.locator('[data-figure="results"] dd').textContent()).toBe('9');
    await expect.poll(points).toBe(9); // the history from /v1/results: (64 - 32) / 4 + 1 windows
    await expect.poll(() => page.locator('#receipt-figures').textContent()).toMatch(/pending\d+/);
    expect(await page.locator('#epochs').isVisible()).toBe(false);
    expect(problems).toEqual([]);
  });

  it('shows live data: the chart grows as more readings come in over MQTT', async () => {
    const before = await points();
    // Slower than the stream's 10 results per second per pipeline, so every one is drawn.
    for (let i = 0; i < 4; i++) {
      await publish('press-1', healthy(10 + i, 8));
      await new Promise((r) => setTimeout(r, 150));
    }
    await expect.poll(points, { timeout: 10_000 }).toBeGreaterThan(before);
    expect(problems).toEqual([]);
  });

  it('lists an anomaly as it is flagged, and shows a hostile sensor name as text', async () => {
    await publish(HOSTILE, faulty(11, 400));
    const item = page.locator('#anomaly-list .anomaly-item').first();
    await expect.poll(() => item.count(), { timeout: 20_000 }).toBe(1);
    expect(await item.locator('.sensor').textContent()).toBe(HOSTILE);
    expect(await chart().locator('line.anomaly').count()).toBeGreaterThan(0);
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
  }, 40_000);

  it('draws an outbox drain as a progress bar and lists the credit of a closed epoch', async () => {
    settlement = await startTestSettlement({
      identity: SERVICE,
      port: settlementPort,
      registerNodes: [agent.nodeId],
      init: { spotCheckPpm: 0 },
    });
    const flush = await call(`${api.url}/v1/receipts/flush`, { method: 'POST', token: TOKEN });
    expect(flush.status, flush.text).toBe(202);
    // A finished activity stays listed for a minute, so the bar is there to see either way.
    const drain = page.locator('#activity-list li', { has: page.locator('progress') });
    await expect.poll(() => drain.count(), { timeout: 10_000 }).toBe(1);
    await expect.poll(() => drain.getAttribute('data-state'), { timeout: 20_000 }).toBe('done');
    const bar = drain.locator('progress');
    expect(await bar.getAttribute('aria-label')).toMatch(/outbox/i);
    const max = await bar.getAttribute('max');
    expect(Number(max)).toBeGreaterThan(0);
    expect(await bar.getAttribute('value')).toBe(max);

    const closed = await settlement.service.closeEpoch();
    const node = (await (await fetch(`${settlement.url}/v1/nodes/${agent.nodeId}`)).json()) as {
      credited: number;
    };
    expect(node.credited).toBeGreaterThan(0);
    const row = page.locator(`#epoch-rows tr[data-epoch="${closed.epoch}"]`);
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1);
    expect(await row.locator('[data-field="credit"]').textContent()).toBe(String(node.credited));
    expect(await row.locator('[data-field="cumulative"]').textContent()).toBe(String(node.credited));
    expect(await page.locator('#epochs').isVisible()).toBe(true);
    expect(problems).toEqual([]);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  }, 40_000);

  it('asks for the token once when the API needs one, and keeps it for the tab', async () => {
    // Its 401s before the token is typed in are expected: they are what makes it ask.
    const asked = await openPage(undefined, []);
    const form = asked.locator('#token-form');
    await expect.poll(() => form.isVisible()).toBe(true);
    await asked.fill('#token-input', 'not-the-token-0123456789');
    await asked.click('#token-form button');
    await expect.poll(() => asked.locator('#token-error').textContent()).toMatch(/refused/);
    await asked.fill('#token-input', TOKEN);
    await asked.click('#token-form button');
    await expect.poll(() => asked.locator('#connection').getAttribute('data-state')).toBe('live');
    expect(await form.isVisible()).toBe(false);
    await asked.reload();
    await expect.poll(() => asked.locator('#connection').getAttribute('data-state')).toBe('live');
    expect(await form.isVisible()).toBe(false);
    await asked.context().close();
  });

  it('shows the connection lost while the API restarts and comes back live by itself', async () => {
    const port = Number(new URL(api.url as string).port);
    await api.stop();
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('reconnecting');
    api = createAgentApi({ ...config, api: { ...config.api, port } }, { logger: quietLogger, dashboardDir });
    await api.start(agent);
    await expect
      .poll(() => page.locator('#connection').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('live');
    await expect.poll(() => page.locator('#node-name').textContent()).toContain('dash-node');
  }, 30_000);
});

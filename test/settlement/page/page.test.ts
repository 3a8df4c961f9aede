import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSettlementPage } from '../../../settlement/page/build.js';
import {
  NODE_A,
  NODE_B,
  REVEAL_WINDOW_MS,
  runSpotCheckStory,
  type SpotCheckStory,
} from '../../helpers/settlement-scenario.js';
import { startTestSettlement, type TestSettlement } from '../../helpers/settlement-service.js';

/**
 * The settlement service's page in a real (headless) Chromium, against a real service on the
 * embedded store, after a real history told through its HTTP API: an equivocation, a spot
 * check passed, one failed and one missed, two epochs closed.
 */
const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror=alert(1)>';
const SCREENSHOT = path.resolve('test-artifacts/settlement-page.png');
let work: string;
let pageDir: string;
let clock = Date.now();
let s: TestSettlement;
let story: SpotCheckStory;
let browser: Browser;
let page: Page;
const problems: string[] = [];
const dialogs: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: run \`apt-get install chromium\` (as .ci/run does)`);
  }
  work = await mkdtemp(path.join(tmpdir(), 'fm-settle-page-'));
  pageDir = path.join(work, 'settlement-page');
  await buildSettlementPage(pageDir);
  s = await startTestSettlement({
    init: { spotCheckPpm: 1_000_000, revealWindowMs: REVEAL_WINDOW_MS },
    now: () => clock,
    pageDir,
  });
  story = await runSpotCheckStory(s, (ms) => (clock += ms), HOSTILE, clock);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await openPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A phone-width page that records every console error, failed request and dialog. */
async function openPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  const p = await context.newPage();
  p.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  p.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  p.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  p.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await p.goto(`${s.url}/`);
  return p;
}

const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';
/** The cells of the first row of `table` that mentions `needle`, as the page shows them. */
const rowWith = (table: string, needle: string) =>
  page.locator(`${table} tbody tr`).filter({ hasText: needle }).first().locator('td').allTextContents();
const firstRow = (table: string, n = 0) =>
  page.locator(`${table} tbody tr`).nth(n).locator('td').allTextContents();

describe('settlement page in a browser', () => {
  it('is served with a strict policy and loads with no console errors or failed requests', async () => {
    const res = await fetch(`${s.url}/`);
    expect(res.status).toBe(200);
    const policy = res.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("default-src 'none'");
    await expect.poll(() => page.locator('#connection').getAttribute('data-state')).toBe('live');
    expect(await text('#service-figures')).toContain(s.service.identity.peerId);
    expect(problems).toEqual([]);
  });

  it('shows the epochs, and the nodes with their credited, pending and voided credit', async () => {
    expect((await firstRow('#epoch-table')).slice(0, 2)).toEqual(['3', 'open']);
    const closed = await firstRow('#epoch-table', 1);
    // epoch 2 credited node A's honest batch: 3 windows, one node
    expect([closed[0], closed[1], closed[4], closed[5]]).toEqual(['2', 'closed', '3', '1']);
    // node A: credited 3 (the passed check), pending 0, voided 2 (the failed one)
    const a = await rowWith('#node-table', NODE_A.peerId.slice(0, 12));
    expect(a.slice(1, 6)).toEqual(['no', '3', '0', '2', 'valid 2 · equivocation 1']);
    const b = await rowWith('#node-table', NODE_B.peerId.slice(0, 12));
    expect(b.slice(1, 6)).toEqual(['no', '0', '0', '1', 'valid 1']);
  });

  it('shows the flagged equivocation and every spot-check result, a hostile pipeline name as text', async () => {
    const flag = page.locator('#equivocation-list li.flag');
    expect(await flag.count()).toBe(1);
    expect(await flag.locator('.pipeline').textContent()).toBe(HOSTILE);
    expect(await flag.textContent()).toMatch(/differs in: startTimeMs/);
    const check = (id: string) => rowWith('#spotcheck-table', id.slice(0, 8));
    const passed = await check(story.honestId);
    expect([passed[0], passed[8]]).toEqual(['passed', '–']);
    const failed = await check(story.lieId);
    expect(failed[0]).toBe('failed');
    expect(failed[8]).toMatch(/output/);
    expect([(await check(story.missedId))[0], (await check(story.missedId))[8]]).toEqual([
      'missed',
      'no reveal before the deadline',
    ]);
    const honestRow = page
      .locator('#spotcheck-table tbody tr')
      .filter({ hasText: story.honestId.slice(0, 8) });
    expect(await honestRow.locator('.pipeline').textContent()).toBe(HOSTILE);
    expect(await page.locator('img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
    // Phone width: nothing makes the page itself scroll sideways.
    const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
  });

  it('refreshes: a new epoch close shows up without a reload', async () => {
    await s.service.closeEpoch();
    await expect
      .poll(async () => (await firstRow('#epoch-table')).slice(0, 2), { timeout: 12_000 })
      .toEqual(['4', 'open']);
    expect(problems).toEqual([]);
  });

  it('answers 503 with what to run when the page is not built', async () => {
    await rename(pageDir, `${pageDir}.away`);
    try {
      const res = await fetch(`${s.url}/`);
      expect(res.status).toBe(503);
      expect(await res.text()).toMatch(/run `npm run build`/);
    } finally {
      await rename(`${pageDir}.away`, pageDir);
    }
    expect((await fetch(`${s.url}/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${s.url}/assets/..%2Fpackage.json`)).status).toBe(404);
  });
});

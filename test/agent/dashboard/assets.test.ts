import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../../../agent/dashboard/build.js';
import { RecentActivity } from '../../../agent/http/recent.js';
import { type AgentApiServer, createAgentApiServer } from '../../../agent/http/server.js';
import { quietLogger } from '../../helpers/broker.js';
import { call } from '../http/api-client.js';

/** The operator API serving a freshly built dashboard, and one whose build is missing. */
const TOKEN = 'dashboard-token-0123456789';
let work: string;
let built: AgentApiServer;
let unbuilt: AgentApiServer;
let files: string[];

function server(dashboardDir: string): AgentApiServer {
  return createAgentApiServer(
    { host: '127.0.0.1', port: 0, token: TOKEN, dashboardDir },
    {
      logger: quietLogger,
      recent: new RecentActivity(),
      status: () => ({
        node: { id: 'n', name: 'assets-node', version: '0.0.0' },
        mqtt: { url: 'mqtt://127.0.0.1:1', connected: true },
        models: [],
        pipelines: [],
        failures: [],
      }),
      started: () => true,
      brokerExpected: () => false,
    },
  );
}

/** A raw GET: fetch would resolve `..` before sending, which is what an attacker's client won't. */
function rawGet(base: string, rawPath: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-dash-assets-'));
  files = await buildDashboard(path.join(work, 'dashboard'));
  built = server(path.join(work, 'dashboard'));
  unbuilt = server(path.join(work, 'never-built'));
  await built.start();
  await unbuilt.start();
});

afterAll(async () => {
  await built?.stop();
  await unbuilt?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('dashboard files served by the operator API', () => {
  it('serves the page without a token, with a strict content policy and no long caching', async () => {
    const page = await call(`${built.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.text).toMatch(/<script type="module" src="\/dashboard\/app-[A-Z0-9]{8}\.js">/);
    // Nothing is fetched from elsewhere: the page works without internet.
    expect(page.text).not.toMatch(/https?:\/\//);
  });

  it('serves each hashed asset with its content type, cacheable for good; HEAD too', async () => {
    expect(files).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^app-.*\.js$/),
        expect.stringMatching(/^style-.*\.css$/),
      ]),
    );
    for (const name of files.filter((f) => f !== 'index.html')) {
      const r = await call(`${built.url}/dashboard/${name}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe(
        name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
      );
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(r.text.length).toBeGreaterThan(100);
      const head = await call(`${built.url}/dashboard/${name}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.text).toBe('');
    }
    expect((await call(`${built.url}/`, { method: 'POST' })).status).toBe(405);
  });

  it('still guards the data: 401 without the token; ?token= opens the event stream only', async () => {
    expect((await call(`${built.url}/v1/status`)).status).toBe(401);
    expect((await call(`${built.url}/v1/status?token=${TOKEN}`)).status).toBe(401);
    expect((await call(`${built.url}/v1/events?token=wrong-token-0123456789`)).status).toBe(401);
    const abort = new AbortController();
    const stream = await fetch(`${built.url}/v1/events?token=${TOKEN}`, { signal: abort.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    abort.abort();
  });

  it('never serves a file outside the build folder, however the path is spelled', async () => {
    for (const p of [
      '/dashboard/../package.json',
      '/dashboard/%2e%2e/%2e%2e/package.json',
      '/dashboard/..%2f..%2fpackage.json',
      '/dashboard/..%5c..%5cpackage.json',
      '/dashboard/%2fetc%2fpasswd',
      '/dashboard//etc/passwd',
      '/dashboard/',
      '/dashboard/.',
      '/dashboard/index.html/..',
    ]) {
      const r = await rawGet(built.url, p);
      expect(r.status, p).not.toBe(200);
      expect(r.body, p).not.toMatch(/"name": "fieldmesh"|root:x:0/);
    }
    // A path that normalises to the page is the page, nothing else.
    expect((await rawGet(built.url, '/dashboard/../')).status).toBe(200);
  });

  it('answers 503 with one line saying to build when the files are missing', async () => {
    const r = await call(`${unbuilt.url}/`);
    expect(r.status).toBe(503);
    expect(r.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(r.text).toBe('The dashboard is not built: run `npm run build` and reload.\n');
    expect((await call(`${unbuilt.url}/dashboard/app.js`)).status).toBe(404);
  });
});

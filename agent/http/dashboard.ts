import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { projectFile } from '../project-files.js';
import { sendError } from './respond.js';

/**
 * The dashboard's built files (`npm run build` writes them to dist/dashboard; the release app
 * tree keeps the same layout): `/` is its page, `/dashboard/<file>` its hashed assets. They are
 * public, like any page that asks for a token: the data they fetch is what the token guards.
 */
export const DASHBOARD_ASSETS = '/dashboard/';

export function defaultDashboardDir(): string {
  return projectFile('dist', 'dashboard');
}

export function isDashboardPath(pathname: string): boolean {
  return pathname === '/' || pathname === '/index.html' || pathname.startsWith(DASHBOARD_ASSETS);
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page may load only its own script and style and talk only to this agent. */
const PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** esbuild's `[name]-[hash]`: such a file never changes, so a browser may keep it for good. */
const HASHED = /-[A-Z0-9]{8}\.[a-z]+$/;

export class DashboardAssets {
  constructor(private readonly dir: string) {}

  async serve(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendError(res, 405, 'API_METHOD_NOT_ALLOWED', `${req.method} is not supported here; use GET`);
    }
    const files = await this.list();
    const page = pathname === '/' || pathname === '/index.html';
    if (page && !files.has('index.html')) {
      res
        .writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        .end('The dashboard is not built: run `npm run build` and reload.\n');
      return;
    }
    const name = page ? 'index.html' : pathname.slice(DASHBOARD_ASSETS.length);
    // Only a name the build folder lists is ever opened: nothing from the URL reaches a path.
    const type = files.get(name);
    if (type === undefined) {
      return sendError(res, 404, 'API_NOT_FOUND', `no ${pathname} here; the dashboard is at /`);
    }
    const body = await readFile(path.join(this.dir, name));
    const headers: Record<string, string> = {
      'content-type': type,
      'content-length': String(body.length),
      'cache-control': HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    };
    if (name === 'index.html') {
      headers['content-security-policy'] = PAGE_POLICY;
      headers['referrer-policy'] = 'no-referrer';
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /**
   * The built files by name, with their content type; read at every request (a handful of
   * entries) so that a rebuild while the agent runs is served at once. Empty when not built.
   */
  private async list(): Promise<Map<string, string>> {
    const files = new Map<string, string>();
    try {
      for (const entry of await readdir(this.dir, { withFileTypes: true })) {
        const type = TYPES[path.extname(entry.name)];
        if (entry.isFile() && type !== undefined) files.set(entry.name, type);
      }
    } catch {
      // Not built: the page says so.
    }
    return files;
  }
}

import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendError } from './http-util.js';

/**
 * The service's own page (settlement/page): `npm run build` writes it to dist/settlement-page,
 * and the release app tree keeps the same layout. `/` is the page, `/assets/<file>` its
 * content-hashed script and stylesheet. Everything it shows comes from the public GET
 * endpoints, so the page is as public as they are.
 */
export const PAGE_ASSETS = '/assets/';

/**
 * dist/settlement-page under the project root: the nearest folder above this module holding a
 * package.json — the checkout when run from source or from dist/, the unpacked application
 * folder when run from a release bundle.
 */
export function defaultPageDir(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'dist', 'settlement-page');
    if (path.dirname(dir) === dir) return path.join(start, 'dist', 'settlement-page');
  }
}

export function isPagePath(pathname: string): boolean {
  return pathname === '/' || pathname === '/index.html' || pathname.startsWith(PAGE_ASSETS);
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Its own script and style, its own API, nothing else: no inline code, no other origin. */
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

/** esbuild's `[name]-[hash]` names: such a file never changes, so a browser may keep it. */
const HASHED = /-[A-Z0-9]{8}\.[a-z]+$/;

export async function servePage(
  dir: string,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return sendError(res, 405, 'method_not_allowed', `${req.method} ${pathname} is not supported; use GET`);
  }
  const files = await builtFiles(dir);
  const isPage = pathname === '/' || pathname === '/index.html';
  if (isPage && !files.has('index.html')) {
    res
      .writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      .end('The settlement page is not built: run `npm run build` and reload.\n');
    return;
  }
  const name = isPage ? 'index.html' : pathname.slice(PAGE_ASSETS.length);
  // Only a name the build folder lists is opened: nothing from the URL reaches a file path.
  const type = files.get(name);
  if (type === undefined) return sendError(res, 404, 'not_found', `no ${pathname} here; the page is at /`);
  const body = await readFile(path.join(dir, name));
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

/** The built files and their types, read per request (a handful) so a rebuild shows at once. */
async function builtFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  try {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const type = TYPES[path.extname(entry.name)];
      if (entry.isFile() && type !== undefined) files.set(entry.name, type);
    }
  } catch {
    // Not built: the page says so.
  }
  return files;
}

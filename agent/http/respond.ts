import type { IncomingMessage, ServerResponse } from 'node:http';
import { FieldmeshError } from '../../protocol/errors.js';

/** Every error of the operator API: `{ "error": "<what to do>", "code": "<STABLE_CODE>" }`. */
export function sendError(res: ServerResponse, status: number, code: string, error: string): void {
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = 'Bearer realm="fieldmesh"';
  sendJson(res, status, { error, code }, headers);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'cache-control': 'no-store',
      ...headers,
    })
    .end(text);
}

/** A request the client got wrong: the route answers `status` with this code and message. */
export class ApiRequestError extends FieldmeshError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

const MAX_BODY = 4096;

/** The JSON body of a small request (≤ 4 KiB), or an ApiRequestError. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY)
      throw new ApiRequestError(
        413,
        'API_BODY_TOO_LARGE',
        `the body must be JSON of at most ${MAX_BODY} bytes`,
      );
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new ApiRequestError(400, 'API_BODY_INVALID', 'the body must be a JSON object');
  }
}

/**
 * An optional positive integer query parameter, at most `max`; `fallback` when absent. A bad
 * value is a 400 that names the parameter.
 */
export function intParam(url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new ApiRequestError(
      400,
      'API_BAD_QUERY',
      `query parameter ${name} must be an integer from 1 to ${max}, not "${raw}"`,
    );
  }
  return n;
}

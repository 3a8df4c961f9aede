import { readFile } from 'node:fs/promises';
import { FieldmeshError } from '../../../protocol/errors.js';
import type { Activity } from '../../activity.js';
import type { AgentStatus } from '../../agent.js';
import type { ApiConfig } from '../../config/api-schema.js';
import { loadConfigFile } from '../../config/load.js';
import { UsageError } from '../args.js';
import { inferenceLatency, type Latency } from './latency.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:7654';
const REQUEST_TIMEOUT_MS = 3_000;

export interface Target {
  readonly url: string;
  readonly token: string | undefined;
}

/** What `fieldmesh status --json` prints: /v1/status with /readyz and latencies merged in. */
export type NodeReport = AgentStatus & {
  url: string;
  ready: boolean;
  reasons: string[];
  uptimeSeconds?: number;
  /** Per pipeline, from the /metrics histogram; absent when the pipeline made no model call. */
  inferenceLatency: Record<string, Latency>;
};

/**
 * --url, else the config's api: section, else the default; the token from flag, env or config.
 * `command` (default `status`) names the verb in errors: `fieldmesh models fetch: …`.
 */
export async function resolveTarget(opts: {
  url?: string | undefined;
  config?: string | undefined;
  token?: string | undefined;
  env?: NodeJS.ProcessEnv;
  command?: string;
}): Promise<Target> {
  const env = opts.env ?? process.env;
  let url = opts.url?.replace(/\/+$/, '');
  let configToken: string | undefined;
  if (opts.config !== undefined) {
    const api = (await loadConfigFile(opts.config)).api;
    url ??= apiUrlOf(api, opts.config, `fieldmesh ${opts.command ?? 'status'}`);
    configToken = await tokenOf(api);
  }
  const token = opts.token ?? (env.FIELDMESH_API_TOKEN || undefined) ?? configToken;
  return { url: url ?? DEFAULT_API_URL, token };
}

function apiUrlOf(api: ApiConfig, file: string, who: string): string {
  if (!api.enabled)
    throw new UsageError(`${who}: ${file} has api.enabled: false, so its agent serves no API`);
  if (api.port === 0) {
    throw new UsageError(
      `${who}: ${file} has api.port: 0 (any free port); pass --url with the port of the agent's "operator API listening" log line`,
    );
  }
  // A wildcard listen address is not one to connect to; the agent answers on loopback too.
  const wildcard: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1', '[::]': '::1' };
  const host = wildcard[api.host] ?? api.host;
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${api.port}`;
}

async function tokenOf(api: ApiConfig): Promise<string | undefined> {
  if (api.tokenFile === undefined) return api.token;
  try {
    return (await readFile(api.tokenFile, 'utf8')).split('\n')[0]?.trim() || undefined;
  } catch (err) {
    throw new FieldmeshError(
      'FILE_UNREADABLE',
      `api.tokenFile ${api.tokenFile} cannot be read (${(err as NodeJS.ErrnoException).code}); pass --token or set FIELDMESH_API_TOKEN`,
      { cause: err },
    );
  }
}

async function get(target: Target, path: string, method = 'GET'): Promise<Response> {
  const url = `${target.url}${path}`;
  try {
    return await fetch(url, {
      method,
      headers: target.token === undefined ? {} : { authorization: `Bearer ${target.token}` },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const e = err as Error;
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${REQUEST_TIMEOUT_MS} ms`
        : ((e.cause as Error | undefined)?.message ?? e.message);
    throw new FieldmeshError(
      'STATUS_API_UNREACHABLE',
      `cannot reach the agent's operator API at ${target.url} (${why}). Is the agent running? Point at another one with --url http://HOST:PORT, or --config FILE to use its api: section.`,
      { cause: err },
    );
  }
}

async function json<T>(target: Target, path: string, okStatuses: number[] = [200]): Promise<T> {
  const response = await get(target, path);
  return answerOf<T>(target, path, response, okStatuses);
}

async function answerOf<T>(
  target: Target,
  path: string,
  response: Response,
  okStatuses: number[],
): Promise<T> {
  if (response.status === 401) {
    throw new FieldmeshError(
      'STATUS_API_UNAUTHORIZED',
      `${target.url} wants an API token${target.token === undefined ? '' : ' and refused the one given'}: pass --token T, set FIELDMESH_API_TOKEN, or --config FILE with api.token or api.tokenFile`,
    );
  }
  if (!okStatuses.includes(response.status)) {
    throw new FieldmeshError(
      'STATUS_API_FAILED',
      `${target.url}${path} answered HTTP ${response.status}; is this a fieldmesh agent's operator API?`,
    );
  }
  return (await response.json()) as T;
}

/** An action of the operator API: its HTTP status and JSON body (`activity`, or `error` and `code`). */
export async function postAction(
  target: Target,
  path: string,
): Promise<{ status: number; body: { activity?: string; error?: string; code?: string } }> {
  const response = await get(target, path, 'POST');
  const body = await answerOf<{ activity?: string; error?: string; code?: string }>(
    target,
    path,
    response,
    [202, 404, 409, 503],
  );
  return { status: response.status, body };
}

/** The agent's activities, from /v1/status. */
export async function fetchActivities(target: Target): Promise<Activity[]> {
  return (await json<AgentStatus>(target, '/v1/status')).activities ?? [];
}

/** One look at the node: /v1/status, /readyz and /metrics, merged. */
export async function fetchReport(target: Target): Promise<NodeReport> {
  const status = await json<AgentStatus & { uptimeSeconds?: number }>(target, '/v1/status');
  const ready = await json<{ ready: boolean; reasons: string[] }>(target, '/readyz', [200, 503]);
  const metrics = await get(target, '/metrics');
  const latency = metrics.ok ? inferenceLatency(await metrics.text()) : {};
  return {
    url: target.url,
    ready: ready.ready,
    reasons: ready.reasons,
    ...status,
    inferenceLatency: latency,
  };
}

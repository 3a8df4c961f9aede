import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ActionAnswer } from '../activity.js';
import type { AgentStatus } from '../agent.js';
import { EXPOSITION_CONTENT_TYPE } from './exposition.js';
import { type LogLevelControl, parseLevelChange } from './log-levels.js';
import { renderMetrics } from './metrics.js';
import { ANOMALIES_PER_PIPELINE, RESULTS_PER_PIPELINE, type RecentActivity } from './recent.js';
import { ApiRequestError, intParam, readJsonBody, sendError, sendJson } from './respond.js';
import type { SseHub } from './sse.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;
export type Method = 'GET' | 'PUT' | 'POST';
export type Routes = ReadonlyMap<string, Readonly<Partial<Record<Method, Handler>>>>;

/** What an operator can ask the agent to do, beyond reading (absent in tests of the read side). */
export interface AgentActions {
  flushReceipts(): ActionAnswer;
  fetchModel(id: string): Promise<ActionAnswer>;
}

/** `/v1/models/<id>/fetch` is routed under this key; the handler reads the id from the path. */
export const MODEL_FETCH_ROUTE = '/v1/models/{id}/fetch';
const MODEL_FETCH_PATH = /^\/v1\/models\/([^/]+)\/fetch$/;

/** The key of `pathname` in the routes: the path itself, or the pattern it matches. */
export function routeKey(pathname: string): string {
  return MODEL_FETCH_PATH.test(pathname) ? MODEL_FETCH_ROUTE : pathname;
}

export interface RouteContext {
  status(): AgentStatus;
  /** `/v1/status` and the event stream's `status` event: the status plus uptime. */
  statusDocument(): unknown;
  started(): boolean;
  /** True when this node embeds a broker that must be listening for it to be ready. */
  brokerExpected(): boolean;
  readonly recent: RecentActivity;
  readonly sse: SseHub;
  readonly logLevels: LogLevelControl | undefined;
  readonly actions: AgentActions | undefined;
}

/** Why the agent is not ready, in words; empty when it is. */
export function unreadyReasons(ctx: RouteContext): string[] {
  if (!ctx.started()) return ['the agent has not finished starting'];
  const s = ctx.status();
  const reasons: string[] = [];
  if (!s.mqtt.connected) reasons.push(`MQTT is not connected to ${s.mqtt.url || 'the site broker'}`);
  if (ctx.brokerExpected() && s.broker === undefined) reasons.push('the embedded broker is not listening');
  if (!s.pipelines.some((p) => p.state === 'running')) {
    const why = s.failures.map((f) => `${f.part}: ${f.message}`).join('; ');
    reasons.push(`no pipeline runs${why ? ` (${why})` : ''}`);
  }
  return reasons;
}

function pipelineParam(ctx: RouteContext, url: URL): string | undefined {
  const id = url.searchParams.get('pipeline');
  if (id === null) return undefined;
  const known = ctx.status().pipelines.map((p) => p.id);
  if (!known.includes(id)) {
    throw new ApiRequestError(
      400,
      'API_BAD_QUERY',
      `query parameter pipeline: no running pipeline "${id}"; running: ${known.join(', ') || 'none'}`,
    );
  }
  return id;
}

export function buildRoutes(ctx: RouteContext): Routes {
  const json =
    (body: () => unknown): Handler =>
    (_req, res) =>
      sendJson(res, 200, body());
  return new Map<string, Partial<Record<Method, Handler>>>([
    ['/healthz', { GET: json(() => ({ status: 'ok' })) }],
    [
      '/readyz',
      {
        GET: (_req, res) => {
          const reasons = unreadyReasons(ctx);
          sendJson(res, reasons.length === 0 ? 200 : 503, { ready: reasons.length === 0, reasons });
        },
      },
    ],
    [
      '/metrics',
      {
        GET: (_req, res) => {
          const text = renderMetrics(ctx.status(), ctx.recent, ctx.started());
          res
            .writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE, 'cache-control': 'no-store' })
            .end(text);
        },
      },
    ],
    ['/v1/status', { GET: json(() => ctx.statusDocument()) }],
    ['/v1/pipelines', { GET: json(() => ({ pipelines: ctx.status().pipelines })) }],
    ['/v1/models', { GET: json(() => ({ models: ctx.status().models })) }],
    ['/v1/peers', { GET: json(() => peers(ctx.status())) }],
    ['/v1/receipts', { GET: json(() => receipts(ctx.status())) }],
    [
      '/v1/results',
      {
        GET: (_req, res, url) => {
          const limit = intParam(url, 'limit', 50, RESULTS_PER_PIPELINE);
          sendJson(res, 200, { results: ctx.recent.recentResults(limit, pipelineParam(ctx, url)) });
        },
      },
    ],
    [
      '/v1/anomalies',
      {
        GET: (_req, res, url) => {
          const limit = intParam(url, 'limit', 50, ANOMALIES_PER_PIPELINE);
          sendJson(res, 200, { anomalies: ctx.recent.recentAnomalies(limit, pipelineParam(ctx, url)) });
        },
      },
    ],
    ['/v1/receipts/flush', { POST: (_req, res) => answer(res, ctx.actions?.flushReceipts()) }],
    [
      MODEL_FETCH_ROUTE,
      {
        POST: async (_req, res, url) => {
          const id = decodeURIComponent(MODEL_FETCH_PATH.exec(url.pathname)?.[1] ?? '');
          answer(res, await ctx.actions?.fetchModel(id));
        },
      },
    ],
    ['/v1/events', { GET: (req, res) => ctx.sse.open(req, res) }],
    [
      '/v1/log-levels',
      { GET: (_req, res) => logLevelsGet(ctx, res), PUT: (req, res) => logLevelsPut(ctx, req, res) },
    ],
  ]);
}

/** 202 with the activity to watch in /v1/status, or the refusal's status and reason. */
function answer(res: ServerResponse, a: ActionAnswer | undefined): void {
  if (a === undefined) sendError(res, 503, 'API_NO_ACTIONS', 'this API serves no agent that can act');
  else if (a.accepted) sendJson(res, 202, { activity: a.activity });
  else sendError(res, a.status, a.code, a.reason);
}

function peers(s: AgentStatus): unknown {
  if (!s.mesh) return { peers: [], reason: 'the mesh is off (mesh.enabled: false)' };
  return { peers: Array.isArray(s.mesh.peers) ? s.mesh.peers : [] };
}

function receipts(s: AgentStatus): unknown {
  if (!s.receipts)
    return { receipts: null, reason: 'receipts are off: no settlement section, or it failed to start' };
  return { receipts: s.receipts };
}

function noLogLevels(res: ServerResponse): void {
  sendError(
    res,
    404,
    'LOG_LEVELS_UNAVAILABLE',
    'this agent cannot change log levels at run time; restart it with log.level set',
  );
}

function logLevelsGet(ctx: RouteContext, res: ServerResponse): void {
  if (ctx.logLevels) sendJson(res, 200, { levels: ctx.logLevels.levels() });
  else noLogLevels(res);
}

async function logLevelsPut(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!ctx.logLevels) return noLogLevels(res);
  const change = parseLevelChange(await readJsonBody(req));
  if (!change.ok) return sendError(res, 400, 'API_BAD_LOG_LEVEL', change.error);
  ctx.logLevels.set(change.component, change.level);
  sendJson(res, 200, { levels: ctx.logLevels.levels() });
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AgentStatus } from '../agent.js';
import { EXPOSITION_CONTENT_TYPE } from './exposition.js';
import { type LogLevelControl, parseLevelChange } from './log-levels.js';
import { renderMetrics } from './metrics.js';
import { ANOMALIES_PER_PIPELINE, RESULTS_PER_PIPELINE, type RecentActivity } from './recent.js';
import { ApiRequestError, intParam, readJsonBody, sendError, sendJson } from './respond.js';
import type { SseHub } from './sse.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;
export type Routes = ReadonlyMap<string, Readonly<Partial<Record<'GET' | 'PUT', Handler>>>>;

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
  return new Map<string, Partial<Record<'GET' | 'PUT', Handler>>>([
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
    ['/v1/events', { GET: (req, res) => ctx.sse.open(req, res) }],
    [
      '/v1/log-levels',
      { GET: (_req, res) => logLevelsGet(ctx, res), PUT: (req, res) => logLevelsPut(ctx, req, res) },
    ],
  ]);
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

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FieldmeshError } from '../../protocol/errors.js';
import type { AgentStatus } from '../agent.js';
import type { Logger } from '../log.js';
import { DashboardAssets, defaultDashboardDir, isDashboardPath } from './dashboard.js';
import { close, httpUrl, listen } from './listen.js';
import type { LogLevelControl } from './log-levels.js';
import type { RecentActivity } from './recent.js';
import { ApiRequestError, sendError } from './respond.js';
import { type AgentActions, buildRoutes, type Method, type Routes, routeKey } from './routes.js';
import { SseHub, type SseInit } from './sse.js';

/**
 * The operator HTTP API (docs/operator-api.md): health and readiness probes, Prometheus
 * metrics, the agent's status, recent results and live events. With a token, every path but
 * the two probes needs `Authorization: Bearer <token>`: orchestrators probe without secrets.
 */
export interface AgentApiInit {
  readonly host: string;
  /** 0 picks a free port; read `url` after start(). */
  readonly port: number;
  readonly token?: string;
  readonly sse?: Partial<SseInit>;
  /** The dashboard's built files; dist/dashboard of the project by default. */
  readonly dashboardDir?: string;
}

export interface AgentApiComponents {
  readonly logger: Logger;
  readonly recent: RecentActivity;
  status(): AgentStatus;
  /** Whether agent.start() has finished (and stop() not begun). */
  started(): boolean;
  brokerExpected(): boolean;
  readonly logLevels?: LogLevelControl;
  /** `POST /v1/receipts/flush` and `POST /v1/models/<id>/fetch`; 503 without. */
  readonly actions?: AgentActions;
}

export interface AgentApiServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly url: string;
  readonly port: number;
}

const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);
/**
 * The one path that also takes the token as `?token=`: a browser's EventSource cannot send a
 * header. Nowhere else, so a token in a URL (proxy logs, history) opens no more than the stream.
 */
const QUERY_TOKEN_PATH = '/v1/events';
const SSE_DEFAULTS: SseInit = {
  maxClients: 16,
  statusIntervalMs: 2000,
  heartbeatMs: 15_000,
  resultsPerSecond: 10,
};

export class ApiListenError extends FieldmeshError {
  constructor(host: string, port: number, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    const advice =
      code === 'EADDRINUSE'
        ? 'another process uses this port: set api.port to a free one (or 0), or stop that process'
        : code === 'EADDRNOTAVAIL'
          ? `no interface of this host has the address ${host}: set api.host to one that \`ip addr\` lists`
          : 'check api.host and api.port';
    super('API_LISTEN_FAILED', `the operator API cannot listen on ${host}:${port} (${code}); ${advice}`, {
      cause,
    });
  }
}

/** Constant-time whatever the lengths: both sides are hashed to 32 bytes first. */
function tokenMatches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), expected);
}

class Api implements AgentApiServer {
  private readonly server: Server;
  private readonly routes: Routes;
  private readonly sse: SseHub;
  private readonly tokenDigest: Buffer | null;
  private readonly dashboard: DashboardAssets;
  private bound: AddressInfo | undefined;

  constructor(
    private readonly init: AgentApiInit,
    private readonly components: AgentApiComponents,
  ) {
    this.tokenDigest = init.token === undefined ? null : createHash('sha256').update(init.token).digest();
    const status = () => ({ ...components.status(), uptimeSeconds: Math.round(process.uptime()) });
    this.dashboard = new DashboardAssets(init.dashboardDir ?? defaultDashboardDir());
    this.sse = new SseHub({ ...SSE_DEFAULTS, ...init.sse }, { recent: components.recent, status });
    this.routes = buildRoutes({
      status: () => components.status(),
      statusDocument: status,
      started: () => components.started(),
      brokerExpected: () => components.brokerExpected(),
      recent: components.recent,
      sse: this.sse,
      logLevels: components.logLevels,
      actions: components.actions,
    });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.failed(req, res, err));
    });
    this.server.headersTimeout = 10_000;
    // Idle connections are kept longer than Node's 5 s, past a Prometheus scrape interval (15 s)
    // and a CLI's polling pauses. With 5 s, a client whose own idle timer fired late (a busy
    // gateway) sent its next request down a socket the server was closing: ECONNRESET, and a
    // POST is not retried.
    this.server.keepAliveTimeout = 30_000;
    // No requestTimeout: an event stream stays open for as long as the dashboard does.
    this.server.requestTimeout = 0;
  }

  get port(): number {
    if (!this.bound) throw new FieldmeshError('API_NOT_STARTED', 'the operator API is not started');
    return this.bound.port;
  }

  get url(): string {
    return httpUrl(this.bound?.address ?? this.init.host, this.port);
  }

  async start(): Promise<void> {
    const { host, port } = this.init;
    this.bound = await listen(this.server, host, port, (err) => new ApiListenError(host, port, err));
    this.server.on('error', (err) => this.components.logger.error({ err }, 'operator API server error'));
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    this.sse.closeAll();
    await close(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://api');
    // Static files need no token: the page asks for it and sends it with every data request.
    if (isDashboardPath(url.pathname)) return this.dashboard.serve(req, res, url.pathname);
    const route = this.routes.get(routeKey(url.pathname));
    if (route === undefined) {
      const known = [...this.routes.keys()].join(', ');
      return sendError(
        res,
        404,
        'API_NOT_FOUND',
        `no ${url.pathname} here; the operator API serves /, ${known}`,
      );
    }
    if (!OPEN_PATHS.has(url.pathname) && !this.authorised(req, url)) {
      return sendError(
        res,
        401,
        'API_UNAUTHORIZED',
        'this API needs the token of api.token (or api.tokenFile): send "Authorization: Bearer <token>"' +
          (url.pathname === QUERY_TOKEN_PATH ? ' or ?token=<token>' : ''),
      );
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const handler =
      method === 'GET' || method === 'PUT' || method === 'POST' ? route[method as Method] : undefined;
    if (handler === undefined) {
      const allowed = Object.keys(route).join(', ');
      res.setHeader('allow', allowed);
      return sendError(
        res,
        405,
        'API_METHOD_NOT_ALLOWED',
        `${req.method} is not supported on ${url.pathname}; use ${allowed}`,
      );
    }
    await handler(req, res, url);
  }

  private authorised(req: IncomingMessage, url: URL): boolean {
    if (this.tokenDigest === null) return true;
    const query = url.pathname === QUERY_TOKEN_PATH ? url.searchParams.get('token') : null;
    if (query !== null) return tokenMatches(query, this.tokenDigest);
    const auth = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return match !== null && tokenMatches(match[1] as string, this.tokenDigest);
  }

  private failed(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (err instanceof ApiRequestError) {
      if (!res.headersSent) sendError(res, err.status, err.code, err.message);
      return;
    }
    this.components.logger.error({ err, url: req.url }, 'operator API request failed');
    if (!res.headersSent) sendError(res, 500, 'API_INTERNAL', 'internal error; see the agent log');
    else res.destroy();
  }
}

/** Builds the operator API server; call start() to listen. */
export function createAgentApiServer(init: AgentApiInit, components: AgentApiComponents): AgentApiServer {
  return new Api(init, components);
}

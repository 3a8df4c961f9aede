import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RecentActivity, RecentResult } from './recent.js';
import { sendError } from './respond.js';

export interface SseInit {
  /** Past this many open streams a new one gets 503: each costs a socket and a timer share. */
  readonly maxClients: number;
  readonly statusIntervalMs: number;
  readonly heartbeatMs: number;
  /** Results per pipeline per second a client gets at most; anomalies are never throttled away. */
  readonly resultsPerSecond: number;
}

interface Client {
  readonly res: ServerResponse;
  /** Per pipeline: when the last result went out, ms. */
  readonly lastResult: Map<string, number>;
  /** While the socket buffer is full, events are skipped rather than queued without bound. */
  blocked: boolean;
}

/**
 * Server-Sent Events for a dashboard (`GET /v1/events`): `result` and `anomaly` as they happen,
 * `status` every few seconds, a comment heartbeat so proxies keep the stream open.
 * https://html.spec.whatwg.org/multipage/server-sent-events.html
 */
export class SseHub {
  private readonly clients = new Set<Client>();
  private timers: NodeJS.Timeout[] = [];
  private unlisten: (() => void) | null = null;

  constructor(
    private readonly init: SseInit,
    private readonly components: { recent: RecentActivity; status(): unknown },
  ) {}

  get size(): number {
    return this.clients.size;
  }

  open(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= this.init.maxClients) {
      sendError(
        res,
        503,
        'API_SSE_FULL',
        `${this.init.maxClients} event streams are open already; close one (another dashboard tab?) and retry`,
      );
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const client: Client = { res, lastResult: new Map(), blocked: false };
    this.clients.add(client);
    res.on('drain', () => {
      client.blocked = false;
    });
    const close = () => this.drop(client);
    req.on('close', close);
    res.on('error', close);
    this.ensureRunning();
    this.write(client, 'status', this.components.status());
  }

  /** Ends every stream (at server stop). */
  closeAll(): void {
    for (const c of [...this.clients]) {
      c.res.end();
      this.drop(c);
    }
  }

  private drop(client: Client): void {
    this.clients.delete(client);
    if (this.clients.size === 0) this.idle();
  }

  /** Timers and the listener run only while someone watches. */
  private ensureRunning(): void {
    if (this.unlisten !== null) return;
    this.unlisten = this.components.recent.listen((kind, entry) => this.broadcast(kind, entry));
    this.timers = [
      setInterval(() => {
        const status = this.components.status();
        for (const c of this.clients) this.write(c, 'status', status);
      }, this.init.statusIntervalMs),
      setInterval(() => {
        for (const c of this.clients) if (!c.blocked) c.blocked = !c.res.write(': heartbeat\n\n');
      }, this.init.heartbeatMs),
    ];
    for (const t of this.timers) t.unref();
  }

  private idle(): void {
    this.unlisten?.();
    this.unlisten = null;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private broadcast(kind: 'result' | 'anomaly', entry: RecentResult): void {
    const now = Date.now();
    const gapMs = 1000 / this.init.resultsPerSecond;
    for (const c of this.clients) {
      if (kind === 'result') {
        const last = c.lastResult.get(entry.pipeline);
        if (last !== undefined && now - last < gapMs) continue;
        c.lastResult.set(entry.pipeline, now);
      }
      this.write(c, kind, entry);
    }
  }

  private write(client: Client, event: string, data: unknown): void {
    if (client.blocked) return;
    client.blocked = !client.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}

import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffPolicyProblem } from '../../protocol/backoff.js';
import type {
  Bridge,
  BridgeComponents,
  BridgeCounters,
  BridgeInit,
  BridgeLocalInit,
  BridgeStatus,
  BridgeUpstreamInit,
} from './bridge-types.js';
import { ConnectionKeeper, type Endpoint } from './connection.js';
import { BridgeConfigError } from './errors.js';
import { Forwarder } from './forwarder.js';
import { LocalSide } from './local-side.js';
import { type BridgeStore, type OverflowPolicy, openBridgeStore } from './store.js';
import { createRouter, topicRuleProblems } from './topic-rules.js';

export type * from './bridge-types.js';

const KIB = 1024;
export const MIN_BUDGET_BYTES = 16 * KIB;
const DEFAULTS = {
  inflight: 32,
  reconnect: { minMs: 500, maxMs: 30_000 } satisfies BackoffPolicy,
  keepaliveS: 30,
  connectTimeoutMs: 10_000,
};
/** Dropped messages are logged at most this often (with the count since the last log). */
const OVERFLOW_LOG_INTERVAL_MS = 60_000;
/** How long stop() waits for stored messages' PUBACKs to go out. */
const STOP_SETTLE_MS = 1000;

/**
 * Segments are an eighth of the budget (4 KiB … 16 MiB): small enough that 'drop-oldest' gives
 * up a small part of the backlog at a time, large enough that a segment is a few fsyncs' worth.
 */
export function segmentBytesFor(budgetBytes: number): number {
  return Math.min(16 * KIB * KIB, Math.max(4 * KIB, Math.floor(budgetBytes / 8)));
}

/** Throws BridgeConfigError (BRIDGE_CONFIG_INVALID) listing every unusable setting. */
export function createBridge(init: BridgeInit, components: BridgeComponents): Bridge {
  validate(init);
  return new UpstreamBridge(init, components.logger.child({ component: 'bridge' }));
}

/** The parts of a running bridge; rebuilt by each start(). */
interface Running {
  store: BridgeStore;
  local: LocalSide;
  forwarder: Forwarder;
  localLink: ConnectionKeeper;
  upstreamLink: ConnectionKeeper;
}

class UpstreamBridge implements Bridge {
  private readonly overflow: OverflowPolicy;
  private readonly extra = { unrouted: 0, storeFailures: 0 };
  private readonly dropLog = new RateLimitedLog(OVERFLOW_LOG_INTERVAL_MS);
  private readonly unroutedLog = new RateLimitedLog(OVERFLOW_LOG_INTERVAL_MS);
  private running: Running | null = null;
  /** Kept after stop(), so counters() and status() still answer. */
  private last: Running | null = null;

  constructor(
    private readonly init: BridgeInit,
    private readonly log: Logger,
  ) {
    this.overflow = init.store.overflow ?? 'drop-oldest';
  }

  async start(): Promise<void> {
    if (this.running !== null) return;
    const { init, log } = this;
    const tls = await readTlsFiles(init.upstream);
    const store = await openBridgeStore(
      {
        dir: init.store.dir,
        budgetBytes: init.store.maxBytes,
        segmentBytes: segmentBytesFor(init.store.maxBytes),
        overflow: this.overflow,
        ...(init.store.cursorWriteMs === undefined ? {} : { cursorWriteMs: init.store.cursorWriteMs }),
      },
      log,
    );
    const forwarder = new Forwarder(store, init.inflight ?? DEFAULTS.inflight, log);
    const local = new LocalSide({
      rules: init.topics,
      route: createRouter(init.topics),
      store,
      log,
      stored: () => forwarder.wake(),
      notStored: (reason, topic) => this.notStored(reason, topic),
      storeFailed: () => this.storeFailed(),
    });
    const backoff = init.reconnect ?? DEFAULTS.reconnect;
    const localLink = new ConnectionKeeper({
      side: 'local',
      endpoint: this.endpoint(init.local, false),
      backoff,
      log,
      prepare: (client) => local.prepare(client),
      onUp: (client, sessionPresent) => local.up(client, sessionPresent),
      onDown: () => local.down(),
    });
    const upstreamLink = new ConnectionKeeper({
      side: 'upstream',
      endpoint: this.endpoint(init.upstream, true, tls),
      backoff,
      log,
      onUp: (client) => forwarder.up(client),
      onDown: () => forwarder.down(),
    });
    this.running = { store, local, forwarder, localLink, upstreamLink };
    this.last = this.running;
    upstreamLink.start();
    localLink.start();
    log.info({ local: init.local.url, upstream: init.upstream.url, dir: init.store.dir }, 'bridge started');
  }

  async stop(): Promise<void> {
    const current = this.running;
    if (current === null) return;
    this.running = null;
    // PUBACKs for what is already stored go out first, so fewer messages come again next time.
    await current.local.settle(STOP_SETTLE_MS);
    await Promise.all([current.localLink.stop(), current.upstreamLink.stop()]);
    await current.store
      .close()
      .catch((err: Error) => this.log.warn({ err: err.message }, 'bridge: store did not close cleanly'));
    this.log.info(this.counters(), 'bridge stopped');
  }

  counters(): BridgeCounters {
    const r = this.last;
    const s = r?.store.stats();
    return {
      received: r?.local.counters.received ?? 0,
      stored: r?.local.counters.stored ?? 0,
      forwarded: r?.forwarder.counters.forwarded ?? 0,
      resent: r?.forwarder.counters.resent ?? 0,
      droppedOldest: s?.droppedOldest ?? 0,
      droppedNewest: s?.droppedNewest ?? 0,
      tooLarge: s?.tooLarge ?? 0,
      unrouted: this.extra.unrouted,
      refusedUpstream: r?.forwarder.counters.refused ?? 0,
      storeFailures: this.extra.storeFailures,
      localConnects: r?.localLink.connects ?? 0,
      upstreamConnects: r?.upstreamLink.connects ?? 0,
    };
  }

  status(): BridgeStatus {
    const r = this.running;
    const s = this.last?.store.stats();
    const side = (url: string, link: ConnectionKeeper | undefined) => ({
      url,
      connected: link?.connected ?? false,
      lastError: link?.lastError ?? null,
    });
    return {
      running: r !== null,
      local: side(this.init.local.url, r?.localLink),
      upstream: side(this.init.upstream.url, r?.upstreamLink),
      store: {
        dir: this.init.store.dir,
        bytes: s?.bytes ?? 0,
        budgetBytes: this.init.store.maxBytes,
        overflow: this.overflow,
        backlog: s?.backlog ?? 0,
      },
    };
  }

  private endpoint(side: BridgeLocalInit, clean: boolean, tls?: Endpoint['tls']): Endpoint {
    return {
      url: side.url,
      clientId: side.clientId,
      clean,
      keepaliveS: this.init.keepaliveS ?? DEFAULTS.keepaliveS,
      connectTimeoutMs: this.init.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      ...(side.username === undefined ? {} : { username: side.username }),
      ...(side.password === undefined ? {} : { password: side.password }),
      ...(side.credentials === undefined ? {} : { credentials: side.credentials }),
      ...(tls === undefined ? {} : { tls }),
    };
  }

  private notStored(
    reason: 'dropped-oldest' | 'dropped-newest' | 'too-large' | 'unrouted',
    topic: string,
  ): void {
    if (reason === 'unrouted') {
      this.extra.unrouted++;
      this.unroutedLog.maybe(this.extra.unrouted, (count) =>
        this.log.warn(
          { topic, count },
          'bridge: messages on topics no rule forwards (a subscription left from an earlier configuration?); acknowledged and dropped',
        ),
      );
      return;
    }
    const s = this.running?.store.stats();
    if (s === undefined) return;
    const { droppedOldest, droppedNewest, tooLarge } = s;
    this.dropLog.maybe(droppedOldest + droppedNewest + tooLarge, (dropped) =>
      this.log.warn(
        {
          dropped,
          droppedOldest,
          droppedNewest,
          tooLarge,
          overflow: this.overflow,
          budgetBytes: this.init.store.maxBytes,
        },
        'bridge: messages dropped: the store budget is full while the upstream is away, or a message is larger than a segment (raise bridge.store.maxBytes, or fix the upstream link)',
      ),
    );
  }

  private storeFailed(): void {
    this.extra.storeFailures++;
    this.running?.localLink.restart('a store write failed; the local broker will resend what was not stored');
  }
}

/** Calls `log` with the growth of a running total, at most once per interval. */
class RateLimitedLog {
  private at = Number.NEGATIVE_INFINITY;
  private reported = 0;

  constructor(private readonly intervalMs: number) {}

  maybe(total: number, log: (sinceLast: number) => void): void {
    const now = Date.now();
    if (total === this.reported || now - this.at < this.intervalMs) return;
    log(total - this.reported);
    this.at = now;
    this.reported = total;
  }
}

async function readTlsFiles(upstream: BridgeUpstreamInit): Promise<Endpoint['tls']> {
  const files = { ca: upstream.caFile, cert: upstream.certFile, key: upstream.keyFile };
  const tls: NonNullable<Endpoint['tls']> = {};
  for (const [name, file] of Object.entries(files) as [keyof typeof files, string | undefined][]) {
    if (file === undefined) continue;
    try {
      tls[name] = await readFile(file);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new BridgeConfigError([
        `upstream.${name}File ${JSON.stringify(file)} cannot be read (${why}): fix the path or its permissions`,
      ]);
    }
  }
  return Object.keys(tls).length === 0 ? undefined : tls;
}

function validate(init: BridgeInit): void {
  const problems = topicRuleProblems(init.topics);
  for (const [side, url] of [
    ['local', init.local.url],
    ['upstream', init.upstream.url],
  ] as const) {
    if (!/^(mqtts?|tcp|ssl):\/\/[^\s/]+\/?$/.test(url)) {
      problems.push(
        `${side}.url ${JSON.stringify(url)} is not a broker URL; write it like mqtt://127.0.0.1:1883`,
      );
    }
  }
  if (init.local.clientId === '' || init.upstream.clientId === '')
    problems.push('a clientId is empty; give each side one');
  if (!Number.isSafeInteger(init.store.maxBytes) || init.store.maxBytes < MIN_BUDGET_BYTES) {
    problems.push(
      `store.maxBytes is ${init.store.maxBytes}; use a whole number of bytes ≥ ${MIN_BUDGET_BYTES}`,
    );
  }
  const inflight = init.inflight ?? DEFAULTS.inflight;
  if (!Number.isInteger(inflight) || inflight < 1 || inflight > 65_535) {
    problems.push(`inflight is ${inflight}; use 1 … 65535 (records awaiting the upstream's acknowledgement)`);
  }
  const backoff = backoffPolicyProblem(init.reconnect ?? DEFAULTS.reconnect);
  if (backoff !== null) problems.push(`reconnect.${backoff}`);
  if (problems.length > 0) throw new BridgeConfigError(problems);
}

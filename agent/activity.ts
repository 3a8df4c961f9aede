import type { Logger } from './log.js';

/**
 * Long operations inside a running agent — a model fetched from a peer, an outbox backlog
 * drained after an outage — that an operator wants to watch: `/v1/status` lists them, the
 * dashboard and `fieldmesh status` draw them as bars, and journald gets a progress line at
 * most every 10 s, as `fieldmesh` itself prints in a pipe (cli/progress.ts).
 */

export type ActivityKind = 'model-fetch' | 'outbox-drain';
export type ActivityUnit = 'bytes' | 'receipts';
export type ActivityState = 'running' | 'done' | 'failed';

export interface Activity {
  /** `<kind>-<n>`, unique for the life of the agent. */
  readonly id: string;
  readonly kind: ActivityKind;
  /** What is being done, in words: `model vibration-ae from 12D3KooW…`. */
  readonly label: string;
  readonly state: ActivityState;
  readonly done: number;
  /** null while the size is unknown (no content-length). */
  readonly total: number | null;
  readonly unit: ActivityUnit;
  readonly startedAtMs: number;
  readonly updatedAtMs: number;
  /** Average units per second since the start; null in the first instant. */
  readonly rate: number | null;
  /** Seconds left at that rate; null without a total or a rate. */
  readonly etaS: number | null;
  /** How it ended, in one sentence; null while it runs. */
  readonly result: string | null;
}

export interface ActivityHandle {
  readonly id: string;
  /** Cheap to call often: it logs at most every `logEveryMs`. */
  update(done: number, total?: number | null): void;
  finish(result: string, done?: number): void;
  fail(reason: string): void;
}

export interface ActivityTrackerInit {
  /** Least time between two progress log lines of one activity (journald stays readable). */
  readonly logEveryMs: number;
  /** How long a finished activity stays listed, so a poller sees how it ended. */
  readonly keepFinishedMs: number;
}

export const ACTIVITY_DEFAULTS: ActivityTrackerInit = { logEveryMs: 10_000, keepFinishedMs: 60_000 };

interface Entry {
  activity: Activity;
  lastLogAtMs: number;
}

/** Figures every reader shows the same way: the average rate and the time left at it. */
export function rateAndEta(
  done: number,
  total: number | null,
  elapsedMs: number,
): { rate: number | null; etaS: number | null } {
  if (elapsedMs <= 0 || done <= 0) return { rate: null, etaS: null };
  const rate = (done * 1000) / elapsedMs;
  const etaS = total === null ? null : Math.max(0, Math.ceil((total - done) / rate));
  return { rate, etaS };
}

export class ActivityTracker {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly init: ActivityTrackerInit;
  private serial = 0;

  constructor(
    init: Partial<ActivityTrackerInit>,
    components: { readonly logger: Logger; readonly now?: () => number },
  ) {
    this.init = { ...ACTIVITY_DEFAULTS, ...init };
    this.log = components.logger.child({ component: 'activity' });
    this.now = components.now ?? Date.now;
  }

  begin(
    kind: ActivityKind,
    label: string,
    more: { unit: ActivityUnit; total?: number | null },
  ): ActivityHandle {
    const id = `${kind}-${++this.serial}`;
    const t = this.now();
    const activity: Activity = {
      id,
      kind,
      label,
      state: 'running',
      done: 0,
      total: more.total ?? null,
      unit: more.unit,
      startedAtMs: t,
      updatedAtMs: t,
      rate: null,
      etaS: null,
      result: null,
    };
    this.entries.set(id, { activity, lastLogAtMs: t });
    this.log.info({ activity: id, label, total: activity.total, unit: more.unit }, 'activity started');
    return {
      id,
      update: (done, total) => this.update(id, done, total),
      finish: (result, done) => this.end(id, 'done', result, done),
      fail: (reason) => this.end(id, 'failed', reason),
    };
  }

  /** Running activities first, then the recently finished, newest first within each. */
  list(): Activity[] {
    this.prune();
    const all = [...this.entries.values()].map((e) => e.activity).reverse();
    return [...all.filter((a) => a.state === 'running'), ...all.filter((a) => a.state !== 'running')];
  }

  /** The running activity of this kind and label, if any: one fetch of a model at a time. */
  running(kind: ActivityKind, label?: string): Activity | undefined {
    return this.list().find(
      (a) => a.state === 'running' && a.kind === kind && (label === undefined || a.label === label),
    );
  }

  private update(id: string, done: number, total?: number | null): void {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.activity.state !== 'running') return;
    const t = this.now();
    entry.activity = this.figures(
      entry.activity,
      done,
      total === undefined ? entry.activity.total : total,
      t,
    );
    if (t - entry.lastLogAtMs < this.init.logEveryMs) return;
    entry.lastLogAtMs = t;
    const a = entry.activity;
    this.log.info(
      { activity: id, done: a.done, total: a.total, unit: a.unit, rate: round(a.rate), etaS: a.etaS },
      `${a.label}: in progress`,
    );
  }

  private end(id: string, state: 'done' | 'failed', result: string, done?: number): void {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.activity.state !== 'running') return;
    const t = this.now();
    const a = this.figures(entry.activity, done ?? entry.activity.done, entry.activity.total, t);
    entry.activity = { ...a, state, result, etaS: state === 'done' ? 0 : null };
    const fields = { activity: id, done: a.done, total: a.total, seconds: (t - a.startedAtMs) / 1000 };
    if (state === 'done') this.log.info(fields, `${a.label}: ${result}`);
    else this.log.warn(fields, `${a.label} failed: ${result}`);
  }

  private figures(a: Activity, done: number, total: number | null, t: number): Activity {
    return { ...a, done, total, updatedAtMs: t, ...rateAndEta(done, total, t - a.startedAtMs) };
  }

  private prune(): void {
    const before = this.now() - this.init.keepFinishedMs;
    for (const [id, e] of this.entries) {
      if (e.activity.state !== 'running' && e.activity.updatedAtMs < before) this.entries.delete(id);
    }
  }
}

function round(rate: number | null): number | null {
  return rate === null ? null : Math.round(rate * 10) / 10;
}

/** What the agent answers to an operator's action (`POST /v1/receipts/flush`, `…/fetch`). */
export type ActionAnswer =
  | { readonly accepted: true; readonly activity: string }
  | {
      readonly accepted: false;
      readonly status: 404 | 409 | 503;
      readonly code: string;
      readonly reason: string;
    };

import type { Logger } from '../log.js';
import type { ModelRuntime } from './model-runtime.js';
import type { ModelOutputs } from './postprocess.js';

/** When a new version of a model is judged, and by what (`models[].swap`). */
export interface SwapLimits {
  /** Calls the new version makes, with the previous one kept loaded, before it is kept. */
  readonly probationCalls: number;
  /** Failed calls ÷ probationCalls past which it is rolled back (at once, not at the end). */
  readonly maxErrorRate: number;
  /** Its mean compute time per window ÷ the previous one's past which it is rolled back. */
  readonly maxLatencyRatio: number;
}

export interface ModelIdentity {
  readonly version: string;
  readonly sha256: string;
}

export type SwapOutcome = 'probation' | 'committed' | 'rolled_back' | 'refused';

/** One swap, for status and the log. */
export interface SwapRecord {
  /** ISO time of the last change of outcome. */
  at: string;
  readonly from: ModelIdentity;
  readonly to: ModelIdentity;
  outcome: SwapOutcome;
  /** Why it was refused or rolled back. */
  reason?: string;
  /** Calls and failures of the new version during probation. */
  calls: number;
  failures: number;
}

/** One call: what ran, on what input (its receipt is over exactly this), and what came out. */
export interface ModelCall {
  readonly outputs: ModelOutputs;
  readonly model: ModelRuntime;
  readonly input: Float32Array;
}

/** Writes the windows of a call into an input for `model` (normalisation is per model). */
export type FillInput = (model: ModelRuntime) => Float32Array;

interface Probation {
  readonly candidate: ModelRuntime;
  readonly previous: ModelRuntime;
  /** The previous version's compute time per window when the swap began, µs (0: unknown). */
  readonly previousUs: number;
  readonly record: SwapRecord;
  us: number;
  rows: number;
}

const HISTORY = 10;

/**
 * The model a pipeline runs, replaceable while it runs. A new version is offered once it has
 * loaded and warmed up; from then on calls go to it, each call whole on one version, and the
 * previous version stays loaded through a probation of `probationCalls` calls. A call the new
 * version fails is run again on the previous one, so no window is lost; too many failures, or
 * a mean time per window too far above the previous one's, roll the swap back.
 */
export class ModelSlot {
  private active: ModelRuntime;
  private probation: Probation | null = null;
  private shadowModel: ModelRuntime | null = null;
  private readonly inflight = new Map<ModelRuntime, number>();
  /** Versions being released: resolves once the last call on one has finished and it is closed. */
  private readonly closing = new Map<ModelRuntime, Promise<void>>();
  private readonly idleWaiters = new Map<ModelRuntime, () => void>();
  private readonly records: SwapRecord[] = [];

  constructor(
    model: ModelRuntime,
    private readonly limits: SwapLimits,
    private readonly components: { logger: Logger; now?: () => number },
  ) {
    this.active = model;
  }

  /** The version new calls go to. */
  get current(): ModelRuntime {
    return this.active;
  }

  get id(): string {
    return this.active.id;
  }

  get windowSize(): number {
    return this.active.windowSize;
  }

  get batchable(): boolean {
    return this.active.batchable;
  }

  get computeUs(): number {
    return this.active.computeUs;
  }

  /** A candidate run beside the current version for comparison (`models[].shadow`), or null. */
  get shadow(): ModelRuntime | null {
    return this.shadowModel;
  }

  /** Every version loaded now: the current one, and the previous one during a probation. */
  loaded(): ModelRuntime[] {
    return this.probation === null ? [this.active] : [this.active, this.probation.previous];
  }

  /** The last swaps, newest last. */
  history(): readonly SwapRecord[] {
    return this.records;
  }

  /** Runs `rows` windows on the current version (and again on the previous one if it fails in probation). */
  async call(rows: number, fill: FillInput): Promise<ModelCall> {
    const model = this.active;
    const input = fill(model);
    const started = performance.now();
    this.enter(model);
    try {
      const outputs = await model.run(input, rows);
      this.judge(model, true, (performance.now() - started) * 1000, rows);
      return { outputs, model, input };
    } catch (err) {
      const fallback = this.judge(model, false, 0, rows);
      if (fallback === null) throw err;
      const again = fill(fallback);
      this.enter(fallback);
      try {
        return { outputs: await fallback.run(again, rows), model: fallback, input: again };
      } finally {
        this.leave(fallback);
      }
    } finally {
      this.leave(model);
    }
  }

  /**
   * Starts the probation of `candidate` (loaded and warmed up), or refuses it when `problems`
   * (what does not fit the pipelines on this model) is not empty. A candidate offered during
   * another probation replaces that one; the version from before both stays the fallback.
   */
  offer(candidate: ModelRuntime, problems: readonly string[]): SwapRecord {
    if (problems.length > 0) {
      void this.retire(candidate);
      return this.refuse(identityOf(candidate), problems.join('; '));
    }
    const pending = this.probation;
    const previous = pending?.previous ?? this.active;
    const record = this.newRecord(identityOf(candidate));
    if (pending !== null)
      this.end(pending, 'rolled_back', 'replaced by a newer version during its probation');
    this.probation = {
      candidate,
      previous,
      previousUs: previous.computeUs,
      record,
      us: 0,
      rows: 0,
    };
    this.active = candidate;
    this.log.info({ ...identities(record), probationCalls: this.limits.probationCalls }, 'model swapped in');
    return record;
  }

  /** Records a version that will not run (it did not load, or does not fit); the running one stays. */
  refuse(to: ModelIdentity, reason: string): SwapRecord {
    const record = this.newRecord(to);
    record.outcome = 'refused';
    record.reason = reason;
    this.log.error({ ...identities(record), reason }, 'new model version refused; the running version stays');
    return record;
  }

  /** Sets (or clears) the shadow candidate; the one it replaces is released once idle. */
  setShadow(model: ModelRuntime | null): void {
    const old = this.shadowModel;
    this.shadowModel = model;
    if (old !== null && old !== model) void this.retire(old);
  }

  /** Runs `rows` windows on the shadow candidate; null when there is none. */
  async callShadow(rows: number, fill: FillInput): Promise<ModelCall | null> {
    const model = this.shadowModel;
    if (model === null) return null;
    const input = fill(model);
    this.enter(model);
    try {
      return { outputs: await model.run(input, rows), model, input };
    } finally {
      this.leave(model);
    }
  }

  /** Waits for calls in flight and closes every version. */
  async close(): Promise<void> {
    const all = new Set([...this.loaded(), ...this.closing.keys()]);
    if (this.shadowModel !== null) all.add(this.shadowModel);
    this.probation = null;
    this.shadowModel = null;
    await Promise.all([...all].map((m) => this.retire(m)));
  }

  /**
   * Counts a call of the version in probation; ends the probation when it has decided. Returns
   * the version to run a failed call on again, or null.
   */
  private judge(model: ModelRuntime, ok: boolean, us: number, rows: number): ModelRuntime | null {
    const p = this.probation;
    if (p === null || p.candidate !== model) {
      // A call that began before a rollback or a commit: the version now current can take it again.
      return !ok && this.active !== model ? this.active : null;
    }
    p.record.calls++;
    if (ok) {
      p.us += us;
      p.rows += rows;
    } else {
      p.record.failures++;
    }
    const allowed = Math.floor(this.limits.maxErrorRate * this.limits.probationCalls);
    if (p.record.failures > allowed) {
      this.end(
        p,
        'rolled_back',
        `${p.record.failures} of its first ${p.record.calls} calls failed (limit ${allowed} in ${this.limits.probationCalls})`,
      );
    } else if (p.record.calls >= this.limits.probationCalls) {
      this.decide(p);
    }
    return ok ? null : p.previous;
  }

  /** At the end of probation: kept, unless it is too slow. */
  private decide(p: Probation): void {
    const meanUs = p.rows === 0 ? 0 : p.us / p.rows;
    const ratio = p.previousUs > 0 && meanUs > 0 ? meanUs / p.previousUs : 0;
    if (ratio > this.limits.maxLatencyRatio) {
      this.end(
        p,
        'rolled_back',
        `${Math.round(meanUs)} µs per window, ${ratio.toFixed(1)}× the previous version's ${Math.round(p.previousUs)} µs (limit ${this.limits.maxLatencyRatio}×)`,
      );
    } else {
      this.end(p, 'committed');
    }
  }

  private end(p: Probation, outcome: 'committed' | 'rolled_back', reason?: string): void {
    this.probation = null;
    p.record.outcome = outcome;
    p.record.at = new Date(this.now()).toISOString();
    if (reason !== undefined) p.record.reason = reason;
    const fields = { ...identities(p.record), calls: p.record.calls, failures: p.record.failures };
    if (outcome === 'committed') {
      this.log.info(fields, 'new model version kept; previous version released');
      void this.retire(p.previous);
      return;
    }
    if (this.active === p.candidate) this.active = p.previous;
    this.log.warn({ ...fields, reason }, 'new model version rolled back');
    void this.retire(p.candidate);
  }

  private newRecord(to: ModelIdentity): SwapRecord {
    const record: SwapRecord = {
      at: new Date(this.now()).toISOString(),
      from: identityOf(this.active),
      to,
      outcome: 'probation',
      calls: 0,
      failures: 0,
    };
    this.records.push(record);
    if (this.records.length > HISTORY) this.records.shift();
    return record;
  }

  private enter(model: ModelRuntime): void {
    this.inflight.set(model, (this.inflight.get(model) ?? 0) + 1);
  }

  private leave(model: ModelRuntime): void {
    const n = (this.inflight.get(model) ?? 1) - 1;
    if (n > 0) {
      this.inflight.set(model, n);
      return;
    }
    this.inflight.delete(model);
    this.idleWaiters.get(model)?.();
  }

  /** Closes `model` once no call is running on it (once, however often it is asked). */
  private retire(model: ModelRuntime): Promise<void> {
    let closed = this.closing.get(model);
    if (closed === undefined) {
      closed = (async () => {
        if (this.inflight.has(model)) {
          await new Promise<void>((resolve) => this.idleWaiters.set(model, resolve));
        }
        this.idleWaiters.delete(model);
        await model.close().catch((err: Error) => this.log.warn({ err: err.message }, 'model not released'));
      })();
      this.closing.set(model, closed);
    }
    return closed;
  }

  private get log(): Logger {
    return this.components.logger;
  }

  private now(): number {
    return (this.components.now ?? Date.now)();
  }
}

function identityOf(m: ModelRuntime): ModelIdentity {
  return { version: m.manifest.version, sha256: m.sha256 };
}

function identities(r: SwapRecord): Record<string, string> {
  return {
    fromVersion: r.from.version,
    fromSha256: r.from.sha256.slice(0, 12),
    toVersion: r.to.version,
    toSha256: r.to.sha256.slice(0, 12),
  };
}

import type { ModelOutputs, ModelRuntime } from '../infer/model-runtime.js';
import type { FillInput, ModelCall } from '../infer/model-slot.js';
import { numericData } from '../infer/postprocess.js';
import { normaliseInto } from '../window/normalise.js';
import type { Window } from '../window/sliding-window.js';

export interface Job {
  window: Window;
  /** performance.now() when the reading that completed the window arrived. */
  arrivedAt: number;
}

export interface BatchRunnerInit {
  /** Bound on windows waiting for the model; past it the oldest are dropped. */
  maxQueue: number;
  /** Most windows run in one call (1 for models with a fixed batch of one). */
  maxBatch: number;
  /**
   * Bound on the time a window waits for the other windows of its batch to compute, µs: a call
   * takes at most 1 + this / (the model's measured time per window) windows. Absent: maxBatch.
   */
  maxAddedLatencyUs?: number;
  /** How windows are normalised for a model version (a new version may bring its own). */
  normalise: Normalisation | ((model: ModelRuntime) => Normalisation);
}

export interface Normalisation {
  readonly mean: number;
  readonly std: number;
}

/** The model a runner calls: a ModelSlot (swappable) or a plain ModelRuntime. */
export interface LocalModel {
  readonly windowSize: number;
  /** Mean compute time of one window, µs; 0 while unknown. */
  readonly computeUs: number;
  readonly batchable: boolean;
  /** The version new calls go to. */
  readonly current: ModelRuntime;
  call(rows: number, fill: FillInput): Promise<ModelCall>;
}

/** How one model call went, for its receipt. */
export interface RunInfo {
  /** The input exactly as handed to the model; only valid during `ran` (the buffer is reused). */
  readonly input: Float32Array;
  /** Wall clock at the start of the call, Unix epoch milliseconds. */
  readonly startTimeMs: number;
  /** Measured duration of the call, microseconds (on the peer, for offloaded calls). */
  readonly computeTimeUs: number;
  /** The peer that ran it; absent when it ran here. The peer records the receipt, not us. */
  readonly provider?: string;
  /** The model version that ran it (here), or whose digest the peer was asked for. */
  readonly model?: ModelRuntime;
}

export interface BatchRunnerEvents {
  /** One call's results: `outputs` holds `jobs.length` rows, in the order of `jobs`. */
  ran(jobs: readonly Job[], outputs: ModelOutputs, run: RunInfo): void;
  failed(jobs: readonly Job[], err: Error): void;
  dropped(job: Job): void;
}

/** Peers that can run windows of this pipeline's model (agent/offload). */
export interface RemoteLane {
  /** Whether the next windows should go to a peer now, given the local lane and the queue. */
  wants(localBusy: boolean, queueDepth: number): boolean;
  /** Whether a peer has room for one more request now. */
  hasRoom(): boolean;
  /** Runs rows on a peer; rejects when none could (the windows then run here, if they can). */
  run(
    input: Float32Array,
    rows: number,
    sha256?: string,
  ): Promise<{ outputs: ModelOutputs; computeUs: number; provider: string }>;
}

/**
 * Runs windows through the model. The local lane makes one call at a time: while it runs,
 * newly due windows wait and the next call takes them (up to maxBatch) as one batch, so an idle
 * pipeline runs every window alone, at once, and a busy one amortises the cost of a call instead
 * of falling behind. With a remote lane, waiting windows also go to peers, several requests at
 * once; a request no peer could take comes back to the local lane, so no window is lost.
 */
export class BatchRunner {
  private queue: Job[] = [];
  /** Windows a peer could not run: the local lane takes them before anything else. */
  private returned: Job[] = [];
  private localBusy = false;
  private remoteBusy = 0;
  private waiters: (() => void)[] = [];
  private readonly input: Float32Array;
  private readonly size: number;
  /** Replaces init.normalise once set (on-device calibration, agent/calibrate). */
  private normalisation: Normalisation | null = null;

  constructor(
    private readonly init: BatchRunnerInit,
    private readonly components: {
      /** Null when the model is not loaded here: windows only run on peers. */
      model: LocalModel | null;
      /** Samples per window; the model's when absent (required without a model). */
      windowSize?: number;
      events: BatchRunnerEvents;
      remote?: RemoteLane;
    },
  ) {
    const size = components.windowSize ?? components.model?.windowSize;
    if (size === undefined)
      throw new Error('BatchRunner: windowSize is required when there is no local model');
    this.size = size;
    this.input = new Float32Array(init.maxBatch * this.size);
  }

  /** The normalisation of windows not yet filled in, local and offloaded alike, from now on. */
  setNormalise(normalise: Normalisation): void {
    this.normalisation = normalise;
  }

  get depth(): number {
    return this.queue.length + this.returned.length;
  }

  /** Requests on their way to peers now. */
  get offloading(): number {
    return this.remoteBusy;
  }

  push(job: Job): void {
    if (this.queue.length >= this.init.maxQueue) {
      const oldest = this.queue.shift();
      if (oldest) this.components.events.dropped(oldest);
    }
    this.queue.push(job);
    this.pump();
  }

  /** Resolves once every queued window has run (here or on a peer). */
  idle(): Promise<void> {
    if (this.settled()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private settled(): boolean {
    return this.depth === 0 && !this.localBusy && this.remoteBusy === 0;
  }

  /** Starts every call the lanes have room for. */
  private pump(): void {
    const { remote, model } = this.components;
    if (!this.localBusy && model !== null && this.returned.length > 0) {
      void this.runLocal(model, this.returned.splice(0, this.batchLimit()));
    }
    while (this.queue.length > 0) {
      if (remote?.hasRoom() && remote.wants(this.localBusy, this.queue.length)) {
        void this.runRemote(remote, this.take(this.chunk()));
      } else if (!this.localBusy && model !== null) {
        void this.runLocal(model, this.take(remote ? this.chunk() : this.batchLimit()));
      } else {
        break;
      }
    }
    if (this.settled()) for (const w of this.waiters.splice(0)) w();
  }

  /** With peers taking work too, one call takes a fair share of the queue, not all of it. */
  private chunk(): number {
    const lanes = 1 + (this.components.remote?.hasRoom() ? 1 : 0);
    return Math.min(this.batchLimit(), Math.max(1, Math.ceil(this.queue.length / lanes)));
  }

  /**
   * Most windows the next call may take: maxBatch, cut so that the last window of a batch
   * finishes within maxAddedLatencyUs of the first, by the model's measured time per window.
   */
  batchLimit(): number {
    const { maxBatch, maxAddedLatencyUs } = this.init;
    if (maxBatch === 1 || this.components.model?.batchable === false) return 1;
    if (maxAddedLatencyUs === undefined) return maxBatch;
    if (maxAddedLatencyUs === 0) return 1;
    const perWindowUs = this.components.model?.computeUs ?? 0;
    if (perWindowUs <= 0) return maxBatch; // not measured yet: the first calls tell
    return Math.max(1, Math.min(maxBatch, 1 + Math.floor(maxAddedLatencyUs / perWindowUs)));
  }

  private take(n: number): Job[] {
    return this.queue.splice(0, Math.min(n, this.init.maxBatch));
  }

  private fill(jobs: readonly Job[], into: Float32Array, model: ModelRuntime | undefined): Float32Array {
    return fillWindows(jobs, into, this.size, this.normalisation ?? this.normaliseFor(model));
  }

  private normaliseFor(model: ModelRuntime | undefined): Normalisation {
    const n = this.init.normalise;
    if (typeof n !== 'function') return n;
    if (model === undefined) throw new Error('BatchRunner: a per-model normalisation needs a local model');
    return n(model);
  }

  private async runLocal(model: LocalModel, jobs: Job[]): Promise<void> {
    this.localBusy = true;
    const startTimeMs = Date.now();
    const started = performance.now();
    try {
      const call = await model.call(jobs.length, (version) => this.fill(jobs, this.input, version));
      const computeTimeUs = Math.round((performance.now() - started) * 1000);
      this.components.events.ran(jobs, call.outputs, {
        input: call.input,
        startTimeMs,
        computeTimeUs,
        model: call.model,
      });
    } catch (err) {
      this.components.events.failed(jobs, err as Error);
    } finally {
      this.localBusy = false;
      this.pump();
    }
  }

  private async runRemote(remote: RemoteLane, jobs: Job[]): Promise<void> {
    this.remoteBusy++;
    // A buffer of its own: the request is in flight while the local lane reuses its buffer.
    const model = this.components.model?.current;
    const input = this.fill(jobs, new Float32Array(jobs.length * this.size), model);
    const startTimeMs = Date.now();
    try {
      const r = await remote.run(input, jobs.length, model?.sha256);
      this.components.events.ran(jobs, r.outputs, {
        input,
        startTimeMs,
        computeTimeUs: r.computeUs,
        provider: r.provider,
        ...(model === undefined ? {} : { model }),
      });
    } catch (err) {
      if (this.components.model !== null) this.returned.push(...jobs);
      else this.components.events.failed(jobs, err as Error);
    } finally {
      this.remoteBusy--;
      this.pump();
    }
  }
}

/** Normalises the windows of `jobs` into `into`, one row of `size` each; returns the rows filled. */
export function fillWindows(
  jobs: readonly Job[],
  into: Float32Array,
  size: number,
  { mean, std }: Normalisation,
): Float32Array {
  jobs.forEach((job, row) => {
    normaliseInto(job.window.values, mean, std, into.subarray(row * size, (row + 1) * size));
  });
  return into.subarray(0, jobs.length * size);
}

/** Row `row` of every output whose first dimension is the batch, as plain numbers. */
export function outputsOfRow(outputs: ModelOutputs, row: number, rows: number): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(outputs)) {
    const data = Array.from(numericData(t) as ArrayLike<number | bigint>, Number);
    const perRow = t.dims[0] === rows && rows > 0 ? data.length / rows : data.length;
    out[name] = t.dims[0] === rows ? data.slice(row * perRow, (row + 1) * perRow) : data;
  }
  return out;
}

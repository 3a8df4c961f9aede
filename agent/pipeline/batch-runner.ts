import type { ModelOutputs, ModelRuntime } from '../infer/model-runtime.js';
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
  normalise: { mean: number; std: number };
}

/** How one model call went, for its receipt. */
export interface RunInfo {
  /** The input exactly as handed to the model; only valid during `ran` (the buffer is reused). */
  readonly input: Float32Array;
  /** Wall clock at the start of the call, Unix epoch milliseconds. */
  readonly startTimeMs: number;
  /** Measured duration of the call, microseconds. */
  readonly computeTimeUs: number;
}

export interface BatchRunnerEvents {
  /** One call's results: `outputs` holds `jobs.length` rows, in the order of `jobs`. */
  ran(jobs: readonly Job[], outputs: ModelOutputs, run: RunInfo): void;
  failed(jobs: readonly Job[], err: Error): void;
  dropped(job: Job): void;
}

/**
 * Runs windows through the model one call at a time. While a call is running, newly due
 * windows wait; the next call takes all of them (up to maxBatch) as one batch. An idle
 * pipeline therefore runs every window alone, at once, and a busy one amortises the cost of
 * a call over many windows instead of falling behind.
 */
export class BatchRunner {
  private queue: Job[] = [];
  private running: Promise<void> | null = null;
  private readonly input: Float32Array;
  private readonly size: number;

  constructor(
    private readonly init: BatchRunnerInit,
    private readonly components: { model: ModelRuntime; events: BatchRunnerEvents },
  ) {
    this.size = components.model.windowSize;
    this.input = new Float32Array(init.maxBatch * this.size);
  }

  get depth(): number {
    return this.queue.length;
  }

  push(job: Job): void {
    if (this.queue.length >= this.init.maxQueue) {
      const oldest = this.queue.shift();
      if (oldest) this.components.events.dropped(oldest);
    }
    this.queue.push(job);
    this.running ??= this.drain();
  }

  /** Resolves once every queued window has run. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.runOnce(this.queue.splice(0, this.init.maxBatch));
    } finally {
      // Reset in the same microtask as the loop's last check: a push from a microtask in
      // between would otherwise find `running` still set and wait for the next push.
      this.running = null;
    }
  }

  private async runOnce(jobs: Job[]): Promise<void> {
    const { mean, std } = this.init.normalise;
    jobs.forEach((job, row) => {
      normaliseInto(
        job.window.values,
        mean,
        std,
        this.input.subarray(row * this.size, (row + 1) * this.size),
      );
    });
    const input = this.input.subarray(0, jobs.length * this.size);
    const startTimeMs = Date.now();
    const started = performance.now();
    try {
      const outputs = await this.components.model.run(input, jobs.length);
      const computeTimeUs = Math.round((performance.now() - started) * 1000);
      this.components.events.ran(jobs, outputs, { input, startTimeMs, computeTimeUs });
    } catch (err) {
      this.components.events.failed(jobs, err as Error);
    }
  }
}

/** Row `row` of every output whose first dimension is the batch, as plain numbers. */
export function outputsOfRow(outputs: ModelOutputs, row: number, rows: number): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, t] of Object.entries(outputs)) {
    const data = Array.from(t.data as ArrayLike<number | bigint>, Number);
    const perRow = t.dims[0] === rows && rows > 0 ? data.length / rows : data.length;
    out[name] = t.dims[0] === rows ? data.slice(row * perRow, (row + 1) * perRow) : data;
  }
  return out;
}

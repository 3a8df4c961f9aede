import type { ModelRuntime } from '../infer/model-runtime.js';
import type { ModelSlot } from '../infer/model-slot.js';
import { type Postprocessed, type PostprocessSpec, postprocessRow } from '../infer/postprocess.js';
import { fillWindows, type Job, type Normalisation } from './batch-runner.js';
import { buildResult } from './result.js';

/** How a shadow candidate compares with the running model, since it became the shadow. */
export interface ShadowStats {
  readonly model: { readonly version: string; readonly sha256: string };
  /** Windows both ran. */
  readonly windows: number;
  /** Windows the shadow skipped because its previous call was still running. */
  readonly skipped: number;
  /** Shadow calls that failed (they cost the running pipeline nothing). */
  readonly failures: number;
  /** Share of windows, among those both gave a verdict for, with the same anomaly verdict. */
  readonly agreement: number | null;
  /** Mean of |shadow score − running score| over the windows both scored. */
  readonly meanAbsScoreDiff: number | null;
  /** Mean compute time of one window on the shadow, µs. */
  readonly computeUs: number;
  readonly lastError?: string;
}

/** What the running model said about one window of a call, with the seq of its result. */
export interface PrimaryVerdict {
  readonly seq: number;
  readonly post: Postprocessed;
}

export interface ShadowParts {
  readonly pipeline: string;
  readonly node: string;
  readonly slot: ModelSlot;
  readonly windowSize: number;
  readonly maxBatch: number;
  normaliseFor(model: ModelRuntime): Normalisation;
  postSpecFor(model: ModelRuntime): PostprocessSpec;
  /** Publishes one shadow result (JSON) on the shadow topic. */
  publish(payload: string): void;
  now(): number;
}

/**
 * Runs the shadow candidate on the windows the running model has just scored, after it and
 * never instead of it: one shadow call at a time; windows that come while it runs are skipped
 * (counted), so a slow candidate costs spare time only. Its results go to the shadow topic
 * with the running model's seq; agreement and score differences are kept for status.
 */
export class ShadowRunner {
  private busy = false;
  private readonly input: Float32Array;
  private model: ModelRuntime | null = null;
  private counts = emptyCounts();

  constructor(private readonly parts: ShadowParts) {
    this.input = new Float32Array(parts.maxBatch * parts.windowSize);
  }

  /** Offers the windows of one call of the running model; returns at once. */
  offer(jobs: readonly Job[], primary: readonly PrimaryVerdict[]): void {
    const shadow = this.parts.slot.shadow;
    if (shadow === null) return;
    if (shadow !== this.model) {
      this.model = shadow;
      this.counts = emptyCounts();
    }
    if (this.busy) {
      this.counts.skipped += jobs.length;
      return;
    }
    // A candidate with a fixed batch of one takes the first window of a batch.
    const taken = shadow.batchable ? jobs : jobs.slice(0, 1);
    this.counts.skipped += jobs.length - taken.length;
    this.busy = true;
    void this.run(shadow, taken, primary).finally(() => {
      this.busy = false;
    });
  }

  stats(): ShadowStats | undefined {
    const m = this.model;
    if (m === null || this.parts.slot.shadow !== m) return undefined;
    const c = this.counts;
    return {
      model: { version: m.manifest.version, sha256: m.sha256 },
      windows: c.windows,
      skipped: c.skipped,
      failures: c.failures,
      agreement: c.verdicts === 0 ? null : c.agreed / c.verdicts,
      meanAbsScoreDiff: c.scored === 0 ? null : c.scoreDiff / c.scored,
      computeUs: m.computeUs,
      ...(c.lastError === undefined ? {} : { lastError: c.lastError }),
    };
  }

  private async run(shadow: ModelRuntime, jobs: readonly Job[], primary: readonly PrimaryVerdict[]) {
    const { parts } = this;
    const started = performance.now();
    try {
      const call = await parts.slot.callShadow(jobs.length, (m) =>
        fillWindows(jobs, this.input, parts.windowSize, parts.normaliseFor(m)),
      );
      if (call === null || call.model !== shadow) return;
      const spec = parts.postSpecFor(shadow);
      const ts = parts.now();
      const latencyMs = performance.now() - started;
      jobs.forEach((job, row) => {
        const post = postprocessRow(call.outputs, spec, row);
        const mine = primary[row];
        if (mine !== undefined) this.compare(mine.post, post);
        const result = buildResult({
          node: parts.node,
          pipeline: parts.pipeline,
          seq: mine?.seq ?? 0,
          window: job.window,
          model: shadow,
          post,
          threshold: spec.threshold,
          outputs: undefined,
          latencyMs,
          ts,
        });
        parts.publish(JSON.stringify(result));
      });
      this.counts.windows += jobs.length;
    } catch (err) {
      this.counts.failures++;
      this.counts.lastError = (err as Error).message;
    }
  }

  private compare(running: Postprocessed, shadow: Postprocessed): void {
    const c = this.counts;
    if (running.anomaly !== undefined && shadow.anomaly !== undefined) {
      c.verdicts++;
      if (running.anomaly === shadow.anomaly) c.agreed++;
    }
    if (running.score !== undefined && shadow.score !== undefined) {
      const diff = Math.abs(shadow.score - running.score);
      if (Number.isFinite(diff)) {
        c.scored++;
        c.scoreDiff += diff;
      }
    }
  }
}

function emptyCounts() {
  return {
    windows: 0,
    skipped: 0,
    failures: 0,
    verdicts: 0,
    agreed: 0,
    scored: 0,
    scoreDiff: 0,
    lastError: undefined as string | undefined,
  };
}

import type { PipelineObserver } from '../pipeline/observer.js';
import type { InferenceResult } from '../pipeline/result.js';
import { Histogram } from './exposition.js';

/** One result as the API lists it: enough for a dashboard row, not the whole document. */
export interface RecentResult {
  readonly pipeline: string;
  readonly sensor: string;
  readonly seq: number;
  readonly model: string;
  readonly score: number | null;
  readonly threshold: number | null;
  readonly anomaly: boolean;
  readonly label?: string;
  /** When the result was made, Unix epoch ms. */
  readonly ts: number;
}

/** A fixed-size buffer that overwrites its oldest entry: O(1) per push, no allocation once full. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** Up to `limit` entries, newest first. */
  newest(limit: number): T[] {
    const out: T[] = [];
    for (let i = 1; i <= Math.min(limit, this.size); i++) {
      out.push(this.items[(this.next - i + this.capacity) % this.capacity] as T);
    }
    return out;
  }
}

export const RESULTS_PER_PIPELINE = 500;
export const ANOMALIES_PER_PIPELINE = 200;
/** 0.1 ms to 1 s: a small autoencoder on a Pi is ~0.2 ms, a large model on a router ~0.5 s. */
export const INFERENCE_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
] as const;

export type RecentListener = (kind: 'result' | 'anomaly', entry: RecentResult) => void;

/**
 * What the operator API learns from the pipelines as it happens: the inference latency
 * histogram, the last results and anomalies per pipeline, and live listeners (SSE).
 */
export class RecentActivity {
  readonly inference = new Histogram(
    'fieldmesh_inference_seconds',
    'Duration of one model call (a batch of windows), seconds.',
    INFERENCE_BUCKETS,
  );
  private readonly results = new Map<string, Ring<RecentResult>>();
  private readonly anomalies = new Map<string, Ring<RecentResult>>();
  private readonly listeners = new Set<RecentListener>();

  /** Give this to the Agent (components.pipelineObserver). */
  readonly observer: PipelineObserver = {
    ran: (pipeline, model, seconds) => this.inference.observe({ pipeline, model }, seconds),
    result: (r) => this.add(r),
  };

  listen(listener: RecentListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Newest first; of one pipeline, or of all merged by time. */
  recentResults(limit: number, pipeline?: string): RecentResult[] {
    return newestOf(this.results, limit, pipeline);
  }

  recentAnomalies(limit: number, pipeline?: string): RecentResult[] {
    return newestOf(this.anomalies, limit, pipeline);
  }

  private add(r: InferenceResult): void {
    const entry: RecentResult = {
      pipeline: r.pipeline,
      sensor: r.sensor,
      seq: r.seq,
      model: r.model.id,
      score: r.score ?? null,
      threshold: r.threshold ?? null,
      anomaly: r.anomaly === true,
      ...(r.label === undefined ? {} : { label: r.label }),
      ts: r.ts,
    };
    ringOf(this.results, r.pipeline, RESULTS_PER_PIPELINE).push(entry);
    if (entry.anomaly) ringOf(this.anomalies, r.pipeline, ANOMALIES_PER_PIPELINE).push(entry);
    for (const l of this.listeners) {
      try {
        l('result', entry);
        if (entry.anomaly) l('anomaly', entry);
      } catch {
        // A listener is a browser at the other end of a socket: its trouble is not the pipeline's.
      }
    }
  }
}

function ringOf(
  map: Map<string, Ring<RecentResult>>,
  pipeline: string,
  capacity: number,
): Ring<RecentResult> {
  let ring = map.get(pipeline);
  if (ring === undefined) {
    ring = new Ring(capacity);
    map.set(pipeline, ring);
  }
  return ring;
}

function newestOf(map: Map<string, Ring<RecentResult>>, limit: number, pipeline?: string): RecentResult[] {
  if (pipeline !== undefined) return map.get(pipeline)?.newest(limit) ?? [];
  // Each ring is newest first, so the newest `limit` overall are among each ring's first `limit`.
  const all = [...map.values()].flatMap((ring) => ring.newest(limit));
  return all.sort((a, b) => b.ts - a.ts).slice(0, limit);
}

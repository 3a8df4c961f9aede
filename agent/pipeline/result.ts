import type { ModelRuntime } from '../infer/model-runtime.js';
import type { Window } from '../window/sliding-window.js';

/** The JSON document published for each window on the pipeline's result topic. */
export interface InferenceResult {
  node: string;
  pipeline: string;
  /** Per pipeline and node, from 1 at start; a gap means results were lost on the way. */
  seq: number;
  sensor: string;
  window: { start: number; end: number; size: number };
  model: { id: string; version: string; sha256: string };
  score?: number;
  threshold?: number;
  anomaly?: boolean;
  label?: string;
  confidence?: number;
  outputs?: Record<string, number[]>;
  /** The peer that ran the model, when the window was offloaded (the node field is still ours). */
  ranOn?: string;
  /**
   * Present while the pipeline learns its calibration (docs/calibration.md): windows collected
   * out of the probation length. Such a result has no score, threshold or anomaly.
   */
  calibrating?: { done: number; of: number };
  /** From arrival of the reading that completed the window to the result being handed to MQTT. */
  latencyMs: number;
  ts: number;
}

export interface ResultParts {
  node: string;
  pipeline: string;
  seq: number;
  window: Window;
  model: ModelRuntime;
  post: { score?: number; anomaly?: boolean; label?: string; confidence?: number };
  threshold: number | undefined;
  outputs: Record<string, number[]> | undefined;
  ranOn?: string | undefined;
  calibrating?: { done: number; of: number } | undefined;
  latencyMs: number;
  ts: number;
}

export function buildResult(p: ResultParts): InferenceResult {
  const result: InferenceResult = {
    node: p.node,
    pipeline: p.pipeline,
    seq: p.seq,
    sensor: p.window.sensor,
    window: { start: p.window.start, end: p.window.end, size: p.window.values.length },
    model: { id: p.model.id, version: p.model.manifest.version, sha256: p.model.sha256 },
    latencyMs: Math.round(p.latencyMs * 1000) / 1000,
    ts: p.ts,
  };
  if (p.post.score !== undefined) result.score = round6(p.post.score);
  if (p.threshold !== undefined) result.threshold = p.threshold;
  if (p.post.anomaly !== undefined) result.anomaly = p.post.anomaly;
  if (p.post.label !== undefined) result.label = p.post.label;
  if (p.post.confidence !== undefined) result.confidence = round6(p.post.confidence);
  if (p.outputs) result.outputs = p.outputs;
  if (p.ranOn !== undefined) result.ranOn = p.ranOn;
  if (p.calibrating !== undefined) result.calibrating = { done: p.calibrating.done, of: p.calibrating.of };
  return result;
}

function round6(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}

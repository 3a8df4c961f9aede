import type { InferenceResult } from './result.js';

/**
 * Optional hooks for parts that watch a pipeline without taking part in it (the operator API's
 * latency histogram and recent-results buffer). Called synchronously on the hot path: keep
 * them O(1) and never throw.
 */
export interface PipelineObserver {
  /** One model call finished: `seconds` is its measured compute time (on the peer if offloaded). */
  ran?(pipeline: string, model: string, seconds: number): void;
  /** One result, as it is handed to MQTT (not while calibrating: those have no verdict). */
  result?(result: InferenceResult): void;
}

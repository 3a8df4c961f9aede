import type { CalibrationProgress } from '../calibrate/session.js';
import type { ModelOutputs, ModelRuntime } from '../infer/model-runtime.js';
import { type PostprocessSpec, postprocessRow } from '../infer/postprocess.js';
import type { Logger } from '../log.js';
import type { MqttLink } from '../mqtt/link.js';
import { type Job, outputsOfRow, type RunInfo } from './batch-runner.js';
import type { PipelineObserver } from './observer.js';
import { buildResult } from './result.js';
import type { PrimaryVerdict } from './shadow-runner.js';
import type { SparkplugOutput } from './sparkplug-wiring.js';

/** The pipeline's counters this part moves. */
export interface ResultCounters {
  results: number;
  anomalies: number;
}

export interface ResultPublisherInit {
  readonly node: string;
  readonly pipeline: string;
  readonly topic: string;
  readonly qos: 0 | 1;
  readonly includeOutputs: boolean;
  readonly link: MqttLink;
  readonly sparkplug: SparkplugOutput | null;
  readonly observer: PipelineObserver | undefined;
  readonly log: Logger;
  readonly counters: ResultCounters;
  readonly now: () => number;
}

/**
 * The pipeline's output end: numbers its results (one sequence for the pipeline, calibrating
 * windows included), puts them on the result topic (and Sparkplug B when configured), and
 * tells the observer.
 */
export class ResultPublisher {
  private seq = 0;

  constructor(private readonly init: ResultPublisherInit) {}

  get topic(): string {
    return this.init.topic;
  }

  /** While calibrating a window gets no verdict: its result says how far probation is. */
  calibrating(job: Job, model: ModelRuntime, progress: CalibrationProgress): void {
    this.seq++;
    this.init.counters.results++;
    const result = buildResult({
      node: this.init.node,
      pipeline: this.init.pipeline,
      seq: this.seq,
      window: job.window,
      model,
      post: {},
      threshold: undefined,
      outputs: undefined,
      calibrating: progress,
      latencyMs: performance.now() - job.arrivedAt,
      ts: this.init.now(),
    });
    this.send(JSON.stringify(result));
  }

  /** One result per window of a call; returns the verdicts, for the shadow. */
  results(
    jobs: readonly Job[],
    outputs: ModelOutputs,
    run: RunInfo,
    model: ModelRuntime,
    spec: PostprocessSpec,
  ): PrimaryVerdict[] {
    const { init } = this;
    const ts = init.now();
    const done = performance.now();
    return jobs.map((job, row) => {
      const post = postprocessRow(outputs, spec, row);
      this.seq++;
      const result = buildResult({
        node: init.node,
        pipeline: init.pipeline,
        seq: this.seq,
        window: job.window,
        model,
        post,
        threshold: spec.threshold,
        outputs: init.includeOutputs ? outputsOfRow(outputs, row, jobs.length) : undefined,
        ranOn: run.provider,
        latencyMs: done - job.arrivedAt,
        ts,
      });
      if (post.anomaly) init.counters.anomalies++;
      init.counters.results++;
      this.send(JSON.stringify(result));
      init.sparkplug?.publish(result);
      init.observer?.result?.(result);
      return { seq: this.seq, post };
    });
  }

  private send(payload: string): void {
    const { link, topic } = this.init;
    if (this.init.qos === 0) {
      link.publishFast(topic, payload);
      return;
    }
    // QoS 1 is acknowledged asynchronously; waiting here would serialise the loop on round trips.
    link.publish(topic, payload, { qos: 1 }).catch((err: Error) => {
      this.init.log.warn({ err: err.message }, 'result not acknowledged by the broker');
    });
  }
}

import type { Topics } from '../../protocol/topics.js';
import { configuredNormalise, createPipelineCalibration } from '../calibrate/pipeline-calibration.js';
import type { CalibrationSession, CalibrationStatus } from '../calibrate/session.js';
import type { CalibrationStore } from '../calibrate/store.js';
import type { PipelineConfig } from '../config/schema.js';
import type { ModelOutputs, ModelRuntime } from '../infer/model-runtime.js';
import { ModelSlot } from '../infer/model-slot.js';
import { checkPostprocessSpec, type PostprocessSpec } from '../infer/postprocess.js';
import type { PayloadDecoder } from '../ingest/decoders.js';
import { compileSensorIdExtractor, type SensorIdExtractor } from '../ingest/topic-filter.js';
import type { Logger } from '../log.js';
import type { MqttLink } from '../mqtt/link.js';
import { SlidingWindows } from '../window/sliding-window.js';
import { BatchRunner, type Job, type RemoteLane, type RunInfo } from './batch-runner.js';
import { ErrorReporter } from './error-reporter.js';
import { inputDecoder } from './input-decoder.js';
import { modelFitProblems, PipelineConfigError, postSpecOf } from './model-fit.js';
import { PipelineVersions } from './model-versions.js';
import type { PipelineObserver } from './observer.js';
import { type ReceiptSink, receiptJob } from './receipt-sink.js';
import { ResultPublisher } from './result-publisher.js';
import { ShadowRunner, type ShadowStats } from './shadow-runner.js';
import * as sparkplug from './sparkplug-wiring.js';

export interface PipelineStats {
  readonly id: string;
  readonly state: PipelineState;
  readonly readings: number;
  readonly windows: number;
  readonly results: number;
  readonly anomalies: number;
  readonly inferenceFailures: number;
  readonly queueDropped: number;
  readonly queueDepth: number;
  /** Requests on their way to peers now. */
  readonly offloading: number;
  readonly sensors: number;
  readonly rejected: Record<string, number>;
  /** Sessions, gaps and rebirths, when the input is Sparkplug B. */
  readonly sparkplug?: sparkplug.SparkplugInputStats;
  /** Present when the pipeline calibrates on the device (docs/calibration.md). */
  readonly calibration?: CalibrationStatus;
  /** Present while the model has a shadow candidate (docs/model-swap.md). */
  readonly shadow?: ShadowStats;
}

/** Failures of the pipeline itself, reported like rejected readings. */
export type PipelineFailure = 'queue_full' | 'inference_failed' | 'internal_error' | 'calibration_failed';

export type PipelineState = 'created' | 'running' | 'stopping' | 'stopped';

/** Where this pipeline's receipts go, and who its jobs run for. */
export interface PipelineReceipts {
  readonly sink: ReceiptSink;
  /** The consumer of every job: this node's own key for its own sensors. */
  readonly consumerKey: Uint8Array;
}

/** Bound on windows waiting for the model; past it the oldest are dropped and counted. */
const MAX_QUEUE = 8192;
/** For a model handed in without a slot: it is never offered a new version. */
const NEVER_SWAPPED = { probationCalls: 1, maxErrorRate: 0, maxLatencyRatio: 1 };
const STALE_SWEEP_MS = 10_000;

/**
 * One binding of sensor topics to a model: ingest → decode → window → infer → publish.
 * Bad readings are counted and reported, never thrown; a failed inference is counted and
 * reported and the next window goes on.
 */
export class Pipeline {
  readonly id: string;
  private state: PipelineState = 'created';
  /** Null for Sparkplug B input, which sparkplugIn decodes. */
  private readonly decode: PayloadDecoder | null;
  private readonly sparkplugIn: sparkplug.SparkplugInput | null;
  private readonly sparkplugOut: sparkplug.SparkplugOutput | null;
  private readonly sensorOf: SensorIdExtractor;
  private readonly windows: SlidingWindows;
  private readonly errors: ErrorReporter;
  private readonly out: ResultPublisher;
  private readonly allowed: ReadonlySet<string> | null;
  private readonly runner: BatchRunner;
  private sweepTimer: NodeJS.Timeout | null = null;
  private lastArrival = 0;
  private counters = {
    readings: 0,
    windows: 0,
    results: 0,
    anomalies: 0,
    inferenceFailures: 0,
    queueDropped: 0,
  };
  /** Not readonly: a calibration replaces its threshold. */
  private postSpec: PostprocessSpec;
  private readonly calibration: CalibrationSession | null;
  private readonly model: ModelSlot;
  private readonly versions: PipelineVersions;
  private readonly shadow: ShadowRunner;

  constructor(
    private readonly cfg: PipelineConfig,
    private readonly components: {
      link: MqttLink;
      /** A slot when the model can be swapped while the pipeline runs (docs/model-swap.md). */
      model: ModelSlot | ModelRuntime;
      topics: Topics;
      nodeId: string;
      logger: Logger;
      now?: () => number;
      /** Absent: no receipts, and nothing is computed for them. */
      receipts?: PipelineReceipts;
      /** Peers that take windows of this pipeline (placement peer or auto). */
      remote?: RemoteLane;
      /** Where a learned calibration is kept; needed with a calibration section. */
      calibrationStore?: CalibrationStore;
      /** Watches calls and results (the operator API); absent: nothing is reported. */
      observer?: PipelineObserver;
    },
  ) {
    this.id = cfg.id;
    this.model =
      components.model instanceof ModelSlot
        ? components.model
        : new ModelSlot(components.model, NEVER_SWAPPED, { logger: components.logger });
    const model = this.model.current;
    const size = cfg.window.size ?? model.windowSize;
    this.postSpec = postSpecOf(model, cfg.threshold ?? model.manifest.postprocessing?.threshold);
    const misfit = modelFitProblems(model, size, this.postSpec);
    if (misfit.length > 0) throw new PipelineConfigError(cfg.id, misfit.join('; '));
    const sparkplugProblem = sparkplug.sparkplugInputProblem(cfg.input);
    if (sparkplugProblem !== null) throw new PipelineConfigError(cfg.id, sparkplugProblem);
    this.sparkplugIn = sparkplug.createSparkplugInput(cfg, {
      admit: (sensor, ts, values, arrivedAt) => this.admit(sensor, ts, values, arrivedAt),
      reject: (reason, topic, detail) => this.reject(reason, topic, detail),
      publish: (topic, payload) => components.link.publishFast(topic, payload),
      now: () => this.now(),
      logger: components.logger,
    });
    this.sparkplugOut = sparkplug.createSparkplugOutput(cfg, components);
    this.decode = inputDecoder(cfg.input);
    this.sensorOf = compileSensorIdExtractor(cfg.input.sensor, cfg.input.topic);
    this.windows = new SlidingWindows({ ...cfg.window, size });
    this.allowed = cfg.input.sensors ? new Set(cfg.input.sensors) : null;
    this.out = new ResultPublisher({
      node: components.nodeId,
      pipeline: cfg.id,
      topic: cfg.results.topic ?? components.topics.results(cfg.id),
      qos: cfg.results.qos,
      includeOutputs: cfg.results.includeOutputs,
      link: components.link,
      sparkplug: this.sparkplugOut,
      observer: components.observer,
      log: this.log,
      counters: this.counters,
      now: () => this.now(),
    });
    this.runner = this.createRunner(this.model);
    this.calibration = createPipelineCalibration(cfg, size, this.postSpec, {
      ...components,
      model,
      store: components.calibrationStore,
      apply: (c) => {
        this.runner.setNormalise(c.normalise);
        const { threshold: _, ...rest } = this.postSpec;
        this.postSpec = c.threshold === undefined ? rest : { ...rest, threshold: c.threshold };
      },
      report: (detail) => this.reject('calibration_failed', this.id, detail),
    });
    try {
      checkPostprocessSpec(this.postSpec); // refuse at start, not once per window
    } catch (err) {
      throw new PipelineConfigError(cfg.id, `model "${model.id}": ${(err as Error).message}`);
    }
    const now = components.now ?? Date.now;
    this.errors = new ErrorReporter(
      {
        pipeline: cfg.id,
        node: components.nodeId,
        topic: components.topics.errors(cfg.id),
        intervalMs: 1000,
      },
      { publish: (t, p) => components.link.publishFast(t, p), logger: this.log, now },
    );
    this.versions = new PipelineVersions({
      cfg,
      first: model,
      firstSpec: () => this.postSpec,
      calibrates: this.calibration !== null,
    });
    const shadowTopic = components.topics.shadowResults(cfg.id);
    this.shadow = new ShadowRunner({
      pipeline: cfg.id,
      node: components.nodeId,
      slot: this.model,
      windowSize: size,
      maxBatch: this.cfg.batch.maxSize,
      normaliseFor: (m) => configuredNormalise(cfg, m),
      postSpecFor: (m) => this.versions.specFor(m),
      publish: (payload) => components.link.publishFast(shadowTopic, payload),
      now: () => this.now(),
    });
  }

  /** Why `candidate` cannot replace the running version (or run beside it) here; empty when it can. */
  swapProblems(candidate: ModelRuntime, as: 'swap' | 'shadow' = 'swap'): string[] {
    return this.versions.problems(candidate, as);
  }

  /** Windows go to the model one call at a time, batched when they queue up. */
  private createRunner(model: ModelSlot): BatchRunner {
    return new BatchRunner(
      {
        maxQueue: MAX_QUEUE,
        maxBatch: this.cfg.batch.maxSize,
        maxAddedLatencyUs: this.cfg.batch.maxAddedLatencyMs * 1000,
        normalise: (version) => configuredNormalise(this.cfg, version),
      },
      {
        model,
        ...(this.components.remote ? { remote: this.components.remote } : {}),
        events: {
          ran: (jobs, outputs, run) => {
            const model = run.model ?? this.model.current;
            this.components.observer?.ran?.(this.id, model.id, run.computeTimeUs / 1e6);
            // An offloaded call's receipt is the provider's to make; this node vouches for it.
            if (this.components.receipts && run.provider === undefined)
              this.recordReceipt(this.components.receipts, jobs.length, outputs, run, model);
            const verdicts = this.out.results(jobs, outputs, run, model, this.versions.specFor(model));
            if (this.model.shadow !== null) this.shadow.offer(jobs, verdicts);
          },
          failed: (jobs, err) => {
            this.counters.inferenceFailures += jobs.length;
            const sensor = jobs[0]?.window.sensor ?? '';
            this.reject(
              'inference_failed',
              sensor,
              `${jobs.length} window(s) of sensor "${sensor}" and others: ${err.message}`,
            );
          },
          dropped: (job) => {
            this.counters.queueDropped++;
            this.reject(
              'queue_full',
              job.window.sensor,
              `more than ${MAX_QUEUE} windows waiting for the model; oldest dropped`,
            );
          },
        },
      },
    );
  }

  /** The id of the model this pipeline runs. */
  get modelId(): string {
    return this.model.id;
  }

  private get log(): Logger {
    return this.components.logger;
  }

  async start(): Promise<void> {
    // Running before the SUBACK: queued QoS 1 readings can arrive right behind it.
    this.state = 'running';
    try {
      await this.calibration?.start(); // a stored calibration is in force before the first reading
      await this.components.link.subscribe(this.cfg.input.topic, this.cfg.input.qos, (topic, payload) =>
        this.onMessage(topic, payload),
      );
      await this.sparkplugOut?.start();
    } catch (err) {
      this.state = 'stopped';
      throw err;
    }
    this.sweepTimer = setInterval(() => this.windows.sweep(this.now()), STALE_SWEEP_MS);
    this.sweepTimer.unref();
    this.log.info(
      { topic: this.cfg.input.topic, model: this.model.id, results: this.out.topic },
      'pipeline running',
    );
  }

  /** Stops taking readings, lets queued windows finish, then resolves. */
  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.components.link.unsubscribe(this.cfg.input.topic).catch(() => undefined);
    await this.runner.idle();
    await this.calibration?.stop();
    await this.sparkplugOut?.stop();
    this.state = 'stopped';
  }

  stats(): PipelineStats {
    const shadow = this.shadow.stats();
    return {
      id: this.id,
      state: this.state,
      ...this.counters,
      queueDepth: this.runner.depth,
      offloading: this.runner.offloading,
      sensors: this.windows.sensorCount,
      rejected: this.errors.counts(),
      ...(this.sparkplugIn ? { sparkplug: this.sparkplugIn.stats() } : {}),
      ...(this.calibration ? { calibration: this.calibration.status() } : {}),
      ...(shadow === undefined ? {} : { shadow }),
    };
  }

  /** Entry point for one MQTT message; never throws. */
  onMessage(topic: string, payload: Uint8Array): void {
    if (this.state !== 'running') return;
    try {
      const problem = this.sparkplugIn
        ? this.sparkplugIn.ingest(topic, payload)
        : this.ingest(topic, payload);
      if (problem) this.reject(problem[0], topic, problem[1]);
    } catch (err) {
      // A bug here must cost one reading, not the pipeline.
      this.reject('internal_error', topic, (err as Error).message);
    }
  }

  /** Decodes and windows one reading; returns why it was refused, or null. */
  private ingest(topic: string, payload: Uint8Array): sparkplug.Refusal | null {
    const arrivedAt = performance.now();
    const decoded = (this.decode as PayloadDecoder)(payload);
    if (!decoded.ok) return [decoded.reason, decoded.detail];
    const sensor = this.sensorOf(topic, decoded.sensor);
    if (sensor === undefined) return ['missing_field', 'no sensor id where input.sensor says it is'];
    return this.admit(sensor, decoded.ts, decoded.values, arrivedAt);
  }

  /** Windows one decoded reading; returns why it was refused, or null. */
  private admit(
    sensor: string,
    ts: number | undefined,
    values: number[],
    arrivedAt: number,
  ): sparkplug.Refusal | null {
    if (this.allowed && !this.allowed.has(sensor)) {
      return ['unknown_sensor', `sensor "${sensor}" is not in input.sensors`];
    }
    const now = this.now();
    const outcome = this.windows.push(sensor, ts ?? this.arrivalTs(now), values, now);
    if (outcome.rejected)
      return [outcome.rejected, `sensor "${sensor}": ${outcome.rejected.replace(/_/g, ' ')} reading`];
    this.counters.readings++;
    for (const window of outcome.windows) this.enqueue({ window, arrivedAt });
    return null;
  }

  private reject(reason: sparkplug.ReportedReason | PipelineFailure, topic: string, detail: string): void {
    this.errors.report(reason, topic, detail);
  }

  private enqueue(job: Job): void {
    this.counters.windows++;
    const calibrating = this.calibration?.collect(job.window.values);
    if (calibrating) this.out.calibrating(job, this.model.current, calibrating);
    else this.runner.push(job);
  }

  /** One receipt per model call (not per window), over the window tensor and every output. */
  private recordReceipt(
    receipts: PipelineReceipts,
    rows: number,
    outputs: ModelOutputs,
    run: RunInfo,
    model: ModelRuntime,
  ): void {
    try {
      const digest = this.versions.digestOf(model);
      receipts.sink.record(receiptJob(this.id, receipts.consumerKey, digest, rows, outputs, run));
    } catch (err) {
      // A receipt must never cost the results; the failure is reported like a bad reading.
      this.reject('internal_error', this.id, `receipt not recorded: ${(err as Error).message}`);
    }
  }

  /**
   * Readings without a timestamp take their arrival time; several arriving within one
   * millisecond are spaced a microsecond apart so that none is mistaken for a duplicate.
   */
  private arrivalTs(now: number): number {
    this.lastArrival = now > this.lastArrival ? now : this.lastArrival + 0.001;
    return this.lastArrival;
  }

  private now(): number {
    return (this.components.now ?? Date.now)();
  }
}

export { PipelineConfigError } from './model-fit.js';

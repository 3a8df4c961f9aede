/**
 * The calibration of one pipeline on one node: loads a stored calibration or runs a probation
 * period, learns, stores and applies what it learned, and recalibrates on command. Event
 * handlers never throw: a failure is logged, reported and probation starts again.
 */
import type { Topics } from '../../protocol/topics.js';
import type { ModelRuntime } from '../infer/model-runtime.js';
import { postprocessRow } from '../infer/postprocess.js';
import type { Logger } from '../log.js';
import type { MqttLink } from '../mqtt/link.js';
import {
  type CalibrationRule,
  type Learned,
  learn,
  type Normalisation,
  ProbationWindows,
} from './calibrator.js';
import { parseCalibrationCommand } from './command.js';
import { type CalibrationStore, type StoredCalibration, storedCalibration } from './store.js';

export type CalibrationPhase = 'loading' | 'calibrating' | 'calibrated';

/** What results carry while the pipeline is learning: windows collected so far, out of how many. */
export interface CalibrationProgress {
  readonly done: number;
  readonly of: number;
}

export interface CalibrationSessionComponents {
  readonly link: MqttLink;
  readonly topics: Topics;
  readonly nodeId: string;
  readonly model: ModelRuntime;
  readonly store: CalibrationStore;
  readonly logger: Logger;
  /** The normalisation and threshold in force without calibration (config or manifest). */
  readonly baseline: { readonly normalise: Normalisation; readonly threshold: number | undefined };
  /** The model output holding the anomaly score (needed to learn a threshold). */
  readonly scoreOutput: string | undefined;
  readonly maxBatch: number;
  /** Puts a calibration in force for the windows that follow. */
  apply(c: { normalise: Normalisation; threshold: number | undefined }): void;
  /** Reports a failure on the pipeline's error topic. */
  report(detail: string): void;
  wallClock?: () => Date;
}

/** For the agent's status: where calibration stands and what is in force. */
export interface CalibrationStatus {
  readonly state: CalibrationPhase;
  readonly done: number;
  readonly of: number;
  readonly normalise?: Normalisation;
  readonly threshold?: number;
  readonly calibratedAt?: string;
}

export class CalibrationSession {
  private phase: CalibrationPhase = 'loading';
  private readonly probation: ProbationWindows;
  /** Bumped by each recalibration, so that a fit of an abandoned probation is discarded. */
  private generation = 0;
  /** The latest fit (settled or not; it never rejects), for stop() to wait on. */
  private fitting: Promise<void> | null = null;
  private current: StoredCalibration | null = null;

  constructor(
    private readonly pipelineId: string,
    private readonly rule: CalibrationRule,
    windowSize: number,
    private readonly components: CalibrationSessionComponents,
  ) {
    this.probation = new ProbationWindows(rule.windows, windowSize);
  }

  get state(): CalibrationPhase {
    return this.phase;
  }

  /** Loads a stored calibration (scoring at once) or starts probation; then listens for commands. */
  async start(): Promise<void> {
    const { store, model, logger } = this.components;
    const outcome = await store.load({
      modelSha256: model.sha256,
      normalise: this.rule.normalise,
      threshold: this.rule.threshold,
    });
    if (outcome.kind === 'found') {
      this.inForce(outcome.calibration, 'stored');
    } else {
      if (outcome.kind === 'stale')
        logger.info({ file: store.file, why: outcome.why }, 'stored calibration ignored');
      if (outcome.kind === 'corrupt')
        this.fail(`stored calibration unusable, calibrating again: ${outcome.why}`);
      this.beginProbation();
    }
    await this.components.link.subscribe(
      this.components.topics.calibrate(this.pipelineId),
      1,
      (_t, payload) => this.onCommand(payload),
    );
  }

  async stop(): Promise<void> {
    await this.components.link
      .unsubscribe(this.components.topics.calibrate(this.pipelineId))
      .catch(() => undefined);
    await this.fitting;
  }

  /**
   * Takes a window while calibrating and says how far probation is (the caller publishes no
   * verdict for it); returns null once calibrated, when the window is for the model.
   */
  collect(values: Float32Array): CalibrationProgress | null {
    if (this.phase === 'calibrated') return null;
    if (this.phase === 'loading' || this.probation.full)
      return { done: this.probation.done, of: this.rule.windows };
    const done = this.probation.add(values);
    if (this.probation.full) this.fitting = this.fit(this.generation);
    return { done, of: this.rule.windows };
  }

  /** Forgets the calibration in force and the stored one; probation starts again. */
  async recalibrate(): Promise<void> {
    this.generation++;
    try {
      await this.components.store.remove();
    } catch (err) {
      this.fail(`stored calibration ${this.components.store.file} not removed: ${(err as Error).message}`);
    }
    this.beginProbation();
  }

  private onCommand(payload: Uint8Array): void {
    const command = parseCalibrationCommand(payload);
    if (!command.ok) {
      this.fail(
        `calibration command on ${this.components.topics.calibrate(this.pipelineId)} refused: ${command.why}`,
      );
      return;
    }
    if (command.node !== undefined && command.node !== this.components.nodeId) return;
    this.components.logger.info({ pipeline: this.pipelineId }, 'recalibration requested');
    void this.recalibrate();
  }

  private beginProbation(): void {
    this.probation.reset();
    this.phase = 'calibrating';
    this.current = null;
    this.publishState({ state: 'calibrating', done: 0, of: this.rule.windows });
    this.components.logger.info({ windows: this.rule.windows }, 'calibration probation started');
  }

  private async fit(generation: number): Promise<void> {
    const { model, baseline, maxBatch } = this.components;
    try {
      const learned = await learn(this.pipelineId, this.probation, this.rule, {
        current: baseline.normalise,
        score: (input, rows) => this.score(input, rows),
        maxBatch,
      });
      if (generation !== this.generation) return;
      const stored = storedCalibration(learned, {
        pipeline: this.pipelineId,
        model: { id: model.id, version: model.manifest.version, sha256: model.sha256 },
        quantile: this.rule.quantile,
        margin: this.rule.margin,
        at: (this.components.wallClock ?? (() => new Date()))(),
      });
      await this.save(stored);
      if (generation !== this.generation) return;
      this.inForce(stored, 'learned', learned);
    } catch (err) {
      if (generation !== this.generation) return;
      this.fail(`${(err as Error).message}; calibrating again`);
      this.beginProbation();
    }
  }

  /** A calibration that could not be stored is still used; the next start calibrates again. */
  private async save(stored: StoredCalibration): Promise<void> {
    try {
      await this.components.store.save(stored);
    } catch (err) {
      this.fail(`calibration not stored in ${this.components.store.file}: ${(err as Error).message}`);
    }
  }

  private async score(input: Float32Array, rows: number): Promise<number[]> {
    const outputs = await this.components.model.run(input, rows);
    const spec = this.components.scoreOutput === undefined ? {} : { score: this.components.scoreOutput };
    return Array.from({ length: rows }, (_, r) => postprocessRow(outputs, spec, r).score ?? Number.NaN);
  }

  private inForce(c: StoredCalibration, source: 'stored' | 'learned', learned?: Learned): void {
    const { baseline } = this.components;
    this.components.apply({
      normalise: c.normalise ?? baseline.normalise,
      threshold: c.threshold ?? baseline.threshold,
    });
    this.current = c;
    this.phase = 'calibrated';
    this.publishState({ state: 'calibrated', source, ...c });
    this.components.logger.info(
      {
        source,
        normalise: c.normalise,
        threshold: c.threshold,
        windows: c.windows,
        scoreQuantile: learned?.scoreQuantile,
      },
      'calibration in force',
    );
  }

  status(): CalibrationStatus {
    const c = this.current;
    return {
      state: this.phase,
      done: c ? c.windows : this.probation.done,
      of: this.rule.windows,
      ...(c?.normalise ? { normalise: c.normalise } : {}),
      ...(c?.threshold === undefined ? {} : { threshold: c.threshold }),
      ...(c ? { calibratedAt: c.calibratedAt } : {}),
    };
  }

  private publishState(body: Record<string, unknown>): void {
    const { link, topics, nodeId, logger } = this.components;
    const payload = JSON.stringify({ pipeline: this.pipelineId, node: nodeId, ...body, ts: Date.now() });
    link
      .publish(topics.calibrationState(this.pipelineId, nodeId), payload, { qos: 1, retain: true })
      .catch((err: Error) => {
        logger.warn({ err: err.message }, 'calibration state not published');
      });
  }

  private fail(detail: string): void {
    this.components.logger.warn({ pipeline: this.pipelineId, detail }, 'calibration problem');
    this.components.report(detail);
  }
}

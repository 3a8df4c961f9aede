/**
 * On-device calibration, the pure part: collect the windows of a probation period, learn the
 * normalisation of the raw readings and the anomaly threshold from them. No I/O: the model is
 * reached through a scoring function, the store and the MQTT side live in session.ts.
 */

import { normalisationOf, quantile } from '../../models/generate/evaluate.js';
import { FieldmeshError } from '../../protocol/errors.js';
import { normaliseInto } from '../window/normalise.js';

export interface Normalisation {
  readonly mean: number;
  readonly std: number;
}

/** What to learn and how: the pipeline's `calibration` section. */
export interface CalibrationRule {
  /** Windows of the probation period. */
  readonly windows: number;
  /** threshold = margin × this quantile of the probation windows' scores. */
  readonly quantile: number;
  readonly margin: number;
  /** Learn mean/std of the raw readings (else keep the configured or manifest normalisation). */
  readonly normalise: boolean;
  /** Learn the threshold (else keep the configured or manifest threshold). */
  readonly threshold: boolean;
}

/** What a probation period taught: only the parts the rule asked for. */
export interface Learned {
  readonly normalise?: Normalisation;
  readonly threshold?: number;
  readonly windows: number;
  /** Scores of the probation windows at the quantile the rule uses (for the log and the file). */
  readonly scoreQuantile?: number;
}

/** Scores `rows` normalised windows laid end to end: one anomaly score per row. */
export type ScoreWindows = (input: Float32Array, rows: number) => Promise<ArrayLike<number>>;

export class CalibrationError extends FieldmeshError {
  constructor(pipelineId: string, why: string, cause?: unknown) {
    super('CALIBRATION_FAILED', `pipeline "${pipelineId}": calibration failed: ${why}`, { cause });
  }
}

/**
 * The raw windows of a probation period, in one preallocated float32 buffer: memory is bounded
 * by `of` × `size` samples however long the probation takes.
 */
export class ProbationWindows {
  private readonly data: Float32Array;
  private count = 0;

  constructor(
    readonly of: number,
    readonly size: number,
  ) {
    this.data = new Float32Array(of * size);
  }

  get done(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.of;
  }

  /** Keeps one window; ignored once full. Returns how many are kept. */
  add(values: Float32Array): number {
    if (this.count >= this.of) return this.count;
    if (values.length !== this.size) {
      throw new RangeError(`probation window of ${values.length} samples; expected ${this.size}`);
    }
    this.data.set(values, this.count * this.size);
    return ++this.count;
  }

  /** The kept windows, row-major, as a view (valid until the next reset). */
  rows(): Float32Array {
    return this.data.subarray(0, this.count * this.size);
  }

  reset(): void {
    this.count = 0;
  }
}

/** Mean and standard deviation over every reading of every window. */
export function learnNormalisation(pipelineId: string, rows: Float32Array): Normalisation {
  if (rows.length === 0) throw new CalibrationError(pipelineId, 'no windows were collected');
  try {
    return normalisationOf(rows);
  } catch (err) {
    throw new CalibrationError(
      pipelineId,
      'the readings of the probation period did not vary at all (std is 0); check that the sensors are live and recalibrate',
      err,
    );
  }
}

/** The example models' rule: margin × the q-quantile of normal scores, six significant digits. */
export function thresholdOf(scores: ArrayLike<number>, q: number, margin: number): number {
  return Number((quantile(scores, q) * margin).toPrecision(6));
}

/**
 * Learns what the rule asks for from the probation windows: the normalisation first, then the
 * threshold from the model's scores of the same windows normalised with it.
 */
export async function learn(
  pipelineId: string,
  probation: ProbationWindows,
  rule: CalibrationRule,
  components: { current: Normalisation; score: ScoreWindows; maxBatch: number },
): Promise<Learned> {
  const rows = probation.rows();
  const normalise = rule.normalise ? learnNormalisation(pipelineId, rows) : undefined;
  if (!rule.threshold) return { ...(normalise ? { normalise } : {}), windows: probation.done };
  const scores = await scoreAll(rows, probation.size, normalise ?? components.current, components);
  const finite = scores.filter((s) => Number.isFinite(s));
  if (finite.length < scores.length / 2) {
    throw new CalibrationError(
      pipelineId,
      `the model gave ${scores.length - finite.length} of ${scores.length} windows no finite score`,
    );
  }
  const threshold = thresholdOf(finite, rule.quantile, rule.margin);
  return {
    ...(normalise ? { normalise } : {}),
    threshold,
    windows: probation.done,
    scoreQuantile: quantile(finite, rule.quantile),
  };
}

/** Scores every window in batches of at most maxBatch, normalised as the pipeline will. */
async function scoreAll(
  rows: Float32Array,
  size: number,
  n: Normalisation,
  components: { score: ScoreWindows; maxBatch: number },
): Promise<number[]> {
  const count = rows.length / size;
  const batch = Math.max(1, components.maxBatch);
  const input = new Float32Array(batch * size);
  const scores: number[] = [];
  for (let first = 0; first < count; first += batch) {
    const n0 = Math.min(batch, count - first);
    for (let r = 0; r < n0; r++) {
      const at = (first + r) * size;
      normaliseInto(rows.subarray(at, at + size), n.mean, n.std, input.subarray(r * size, (r + 1) * size));
    }
    const got = await components.score(input.subarray(0, n0 * size), n0);
    for (let r = 0; r < n0; r++) scores.push(Number(got[r]));
  }
  return scores;
}

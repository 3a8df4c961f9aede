/** Builds the calibration session of a pipeline from its config: what Pipeline needs and no more. */
import { FieldmeshError } from '../../protocol/errors.js';
import type { PipelineConfig } from '../config/schema.js';
import type { PostprocessSpec } from '../infer/postprocess.js';
import { CalibrationSession, type CalibrationSessionComponents } from './session.js';

/** Bound on the probation buffer: windows × window size float32 samples (64 MB). */
const MAX_PROBATION_SAMPLES = 16_000_000;
/** Windows per model call while learning the threshold. */
const SCORE_BATCH = 64;

export type PipelineCalibrationParts = Omit<
  CalibrationSessionComponents,
  'store' | 'maxBatch' | 'baseline' | 'scoreOutput'
> & {
  readonly store: CalibrationSessionComponents['store'] | undefined;
};

/**
 * The pipeline's calibration session, or null without a `calibration` section. Throws
 * PIPELINE_CONFIG_INVALID when calibration cannot work for this pipeline and model.
 */
export function createPipelineCalibration(
  cfg: PipelineConfig,
  windowSize: number,
  postSpec: PostprocessSpec,
  parts: PipelineCalibrationParts,
): CalibrationSession | null {
  const rule = cfg.calibration;
  if (rule === undefined) return null;
  const refuse = (why: string) =>
    new FieldmeshError('PIPELINE_CONFIG_INVALID', `pipeline "${cfg.id}": ${why}`);
  if (rule.threshold && postSpec.score === undefined) {
    throw refuse(
      `calibration.threshold needs an anomaly score, but model "${parts.model.id}" names no postprocessing.score output; set calibration.threshold: false`,
    );
  }
  if (rule.windows * windowSize > MAX_PROBATION_SAMPLES) {
    throw refuse(
      `calibration.windows ${rule.windows} × window size ${windowSize} is more than ${MAX_PROBATION_SAMPLES.toLocaleString('en')} samples to hold during probation; lower calibration.windows`,
    );
  }
  const { store } = parts;
  if (store === undefined)
    throw refuse('calibration is configured but the agent gave the pipeline no calibration store');
  const maxBatch = parts.model.batchable ? SCORE_BATCH : 1;
  // What is in force without calibration: the same sources, in the same order, as the pipeline's.
  const baseline = {
    normalise: cfg.normalise ?? parts.model.manifest.preprocessing?.normalise ?? { mean: 0, std: 1 },
    threshold: postSpec.threshold,
  };
  return new CalibrationSession(cfg.id, rule, windowSize, {
    ...parts,
    store,
    maxBatch,
    baseline,
    scoreOutput: postSpec.score,
  });
}

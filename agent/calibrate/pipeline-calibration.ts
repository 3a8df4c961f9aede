/** Builds the calibration session of a pipeline from its config: what Pipeline needs and no more. */

import type { ModelManifest } from '../../models/manifest.js';
import type { PipelineConfig } from '../config/schema.js';
import type { PostprocessSpec } from '../infer/postprocess.js';
import { PipelineConfigError } from '../pipeline/model-fit.js';
import { CalibrationSession, type CalibrationSessionComponents } from './session.js';

/** Bound on the probation buffer: windows × window size float32 samples (64 MB). */
const MAX_PROBATION_SAMPLES = 16_000_000;

export type PipelineCalibrationParts = Omit<
  CalibrationSessionComponents,
  'store' | 'maxBatch' | 'baseline' | 'scoreOutput'
> & {
  readonly store: CalibrationSessionComponents['store'] | undefined;
};

/** The normalisation a pipeline applies until it learns one: its own override, else the manifest's. */
export function configuredNormalise(
  cfg: PipelineConfig,
  model: { readonly manifest: ModelManifest },
): { mean: number; std: number } {
  return cfg.normalise ?? model.manifest.preprocessing.normalise;
}

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
  const refuse = (why: string) => new PipelineConfigError(cfg.id, why);
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
  const maxBatch = parts.model.batchable ? cfg.batch.maxSize : 1;
  // What is in force without calibration.
  const baseline = { normalise: configuredNormalise(cfg, parts.model), threshold: postSpec.threshold };
  return new CalibrationSession(cfg.id, rule, windowSize, {
    ...parts,
    store,
    maxBatch,
    baseline,
    scoreOutput: postSpec.score,
  });
}

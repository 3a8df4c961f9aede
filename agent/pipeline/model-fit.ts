/**
 * Whether a model fits a pipeline, checked once at start from the manifest's declared shapes:
 * the window the pipeline cuts, and the outputs its postprocessing reads. Each problem names
 * the expected and actual shapes, so the pipeline is refused at start rather than failing on
 * every window.
 */
import type { ModelManifest } from '../../models/manifest.js';
import { shapeText } from '../../models/tensor-plan.js';
import { FieldmeshError } from '../../protocol/errors.js';
import type { PostprocessSpec } from '../infer/postprocess.js';

interface FitModel {
  readonly id: string;
  readonly manifest: ModelManifest;
  readonly windowSize: number;
  readonly plan: { readonly window: { readonly name: string }; readonly declaredShape: string };
}

/** Problems with running `model` for a pipeline that cuts windows of `size` and reads `spec`. */
export function modelFitProblems(model: FitModel, size: number, spec: PostprocessSpec): string[] {
  const problems: string[] = [];
  if (size !== model.windowSize) {
    problems.push(
      `window.size ${size} does not fit model "${model.id}": its input "${model.plan.window.name}" has shape ` +
        `${model.plan.declaredShape}, ${model.windowSize} readings per window. ` +
        `Set window.size to ${model.windowSize}, or leave it out`,
    );
  }
  if (spec.score !== undefined) {
    const values = valuesPerWindow(model.manifest, spec.score);
    if (values !== undefined && values.count !== 1) {
      problems.push(
        `model "${model.id}": the score output "${spec.score}" has shape ${values.shape}, ${values.count} values ` +
          'per window, but an anomaly score is one value per window (shape ["N"] or ["N", 1]). ' +
          "Name another output in the manifest's postprocessing.score",
      );
    }
  }
  if (spec.labelOutput !== undefined && spec.labels !== undefined) {
    const values = valuesPerWindow(model.manifest, spec.labelOutput);
    if (values !== undefined && values.count > 1 && values.count !== spec.labels.length) {
      problems.push(
        `model "${model.id}": the label output "${spec.labelOutput}" has shape ${values.shape}, ${values.count} ` +
          `classes per window, but ${spec.labels.length} labels are given. Give one label per class`,
      );
    }
  }
  return problems;
}

/**
 * Values one window gets from an output, by its declared shape: everything after the batch
 * dimension (rank 2 or more), one for a rank 0 or 1 output. Undefined when a size is left open.
 */
function valuesPerWindow(
  manifest: ModelManifest,
  name: string,
): { readonly count: number; readonly shape: string } | undefined {
  const output = manifest.outputs.find((o) => o.name === name);
  if (output === undefined) return undefined;
  const perRow = output.shape.length >= 2 ? output.shape.slice(1) : [];
  if (perRow.some((d) => typeof d !== 'number')) return undefined;
  return {
    count: (perRow as number[]).reduce((a, b) => a * b, 1),
    shape: shapeText(output.shape),
  };
}

export class PipelineConfigError extends FieldmeshError {
  constructor(pipelineId: string, why: string) {
    super('PIPELINE_CONFIG_INVALID', `pipeline "${pipelineId}": ${why}`);
  }
}

/** What a pipeline postprocesses by: the manifest's outputs, with the threshold in force. */
export function postSpecOf(
  model: { readonly manifest: ModelManifest },
  threshold: number | undefined,
): PostprocessSpec {
  const p = model.manifest.postprocessing;
  return {
    ...(p?.score === undefined ? {} : { score: p.score }),
    ...(threshold === undefined ? {} : { threshold }),
    ...(p?.labels === undefined || p.labels.length === 0 ? {} : { labels: p.labels }),
    ...(p?.labelOutput === undefined ? {} : { labelOutput: p.labelOutput }),
  };
}

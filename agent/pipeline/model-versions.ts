import type { PipelineConfig } from '../config/schema.js';
import type { ModelRuntime } from '../infer/model-runtime.js';
import { checkPostprocessSpec, type PostprocessSpec } from '../infer/postprocess.js';
import { modelFitProblems, postSpecOf } from './model-fit.js';

export interface PipelineVersionsInit {
  readonly cfg: PipelineConfig;
  /** The version the pipeline started with. */
  readonly first: ModelRuntime;
  /** Its spec as in force now (a calibration may have replaced the threshold). */
  firstSpec(): PostprocessSpec;
  /** Whether the pipeline calibrates on the device. */
  readonly calibrates: boolean;
}

/**
 * What a pipeline needs per model version once versions can change while it runs
 * (docs/model-swap.md): how a version's outputs are read, its digest for receipts, and whether a
 * candidate may replace the running version or run beside it.
 */
export class PipelineVersions {
  private readonly specs = new WeakMap<ModelRuntime, PostprocessSpec>();
  private readonly digests = new WeakMap<ModelRuntime, Uint8Array>();

  constructor(private readonly init: PipelineVersionsInit) {}

  /** The postprocessing of `model`'s outputs: its manifest's, under the pipeline's threshold. */
  specFor(model: ModelRuntime): PostprocessSpec {
    if (model === this.init.first) return this.init.firstSpec();
    let spec = this.specs.get(model);
    if (spec === undefined) {
      spec = this.specOf(model);
      this.specs.set(model, spec);
    }
    return spec;
  }

  /** The model's sha256 as bytes, as receipts carry it. */
  digestOf(model: ModelRuntime): Uint8Array {
    let digest = this.digests.get(model);
    if (digest === undefined) {
      digest = new Uint8Array(Buffer.from(model.sha256, 'hex'));
      this.digests.set(model, digest);
    }
    return digest;
  }

  /**
   * Why `candidate` cannot replace the running version (`swap`) or run beside it (`shadow`) for
   * this pipeline; empty when it can. The window width is fixed while running, and a
   * calibration belongs to the version it was learned with.
   */
  problems(candidate: ModelRuntime, as: 'swap' | 'shadow'): string[] {
    const { cfg, first } = this.init;
    if (this.init.calibrates && as === 'swap') {
      return [
        `pipeline "${cfg.id}" calibrates on the device and its calibration belongs to the running version: ` +
          'restart the agent to change versions (the pipeline calibrates again)',
      ];
    }
    const spec = this.specOf(candidate);
    const size = cfg.window.size ?? first.windowSize;
    const problems = modelFitProblems(candidate, size, spec).map((p) => `pipeline "${cfg.id}": ${p}`);
    try {
      checkPostprocessSpec(spec);
    } catch (err) {
      problems.push(`pipeline "${cfg.id}": ${(err as Error).message}`);
    }
    return problems;
  }

  private specOf(model: ModelRuntime): PostprocessSpec {
    return postSpecOf(model, this.init.cfg.threshold ?? model.manifest.postprocessing?.threshold);
  }
}

import * as ort from 'onnxruntime-node';
import { type Dim, inputDims, windowWidthOf } from '../../models/input-layout.js';
import type { ModelManifest } from '../../models/manifest.js';
import { loadModelFile } from '../../models/manifest.js';
import { FieldmeshError } from '../../protocol/errors.js';
import type { ModelConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { ModelOutputs } from './postprocess.js';

export class ModelLoadError extends FieldmeshError {
  constructor(modelId: string, file: string, why: string, cause?: unknown) {
    super('MODEL_LOAD_FAILED', `model "${modelId}" (${file}): ${why}`, { cause });
  }
}

export class ModelShapeError extends FieldmeshError {
  constructor(modelId: string, why: string) {
    super('MODEL_SHAPE_UNSUPPORTED', `model "${modelId}": ${why}`);
  }
}

export type { ModelOutputs } from './postprocess.js';

/**
 * One onnxruntime session per model: loaded once, digest-checked against its manifest,
 * warmed up, then shared by every pipeline that names the model.
 */
export class ModelRuntime {
  readonly id: string;
  readonly manifest: ModelManifest;
  readonly sha256: string;
  /** Whether the input has a symbolic first dimension, so several windows can run in one call. */
  readonly batchable: boolean;
  /** Samples one window holds (the model's fixed input width). */
  readonly windowSize: number;
  private readonly session: ort.InferenceSession;
  private readonly inputName: string;
  private readonly inputShape: readonly Dim[];
  /** Path of the .onnx file it was loaded from (peers may fetch it by digest). */
  file = '';
  private runs = 0;
  private failures = 0;
  /** Moving mean of the compute time of one window, µs (0 until the first run). */
  private usPerWindow = 0;

  private constructor(id: string, manifest: ModelManifest, sha256: string, session: ort.InferenceSession) {
    this.id = id;
    this.manifest = manifest;
    this.sha256 = sha256;
    this.session = session;
    const input = manifest.inputs[0];
    if (manifest.inputs.length !== 1 || input === undefined) {
      throw new ModelShapeError(
        id,
        `has ${manifest.inputs.length} inputs; windows feed models with exactly one`,
      );
    }
    this.inputName = input.name;
    this.inputShape = input.shape;
    this.windowSize = windowWidth(id, input.shape, manifest.preprocessing?.window);
    this.batchable = typeof input.shape[0] === 'string';
  }

  static async load(cfg: ModelConfig, components: { logger: Logger }): Promise<ModelRuntime> {
    const log = components.logger.child({ component: 'model', model: cfg.id });
    const file = await loadModelFile(cfg.manifest); // throws on a digest mismatch, naming both digests
    let session: ort.InferenceSession;
    const started = performance.now();
    try {
      session = await ort.InferenceSession.create(file.bytes, {
        intraOpNumThreads: cfg.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        enableCpuMemArena: cfg.memoryArena,
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      throw new ModelLoadError(cfg.id, file.path, `onnxruntime refused it: ${(err as Error).message}`, err);
    }
    const runtime = new ModelRuntime(cfg.id, file.manifest, file.sha256, session);
    runtime.file = file.path;
    for (const name of runtime.manifest.inputs.map((i) => i.name)) {
      if (!session.inputNames.includes(name)) {
        throw new ModelLoadError(
          cfg.id,
          file.path,
          `manifest input "${name}" is not in the graph (${session.inputNames.join(', ')})`,
        );
      }
    }
    const zeros = new Float32Array(runtime.windowSize);
    for (let i = 0; i < cfg.warmupRuns; i++) await runtime.run(zeros, 1);
    log.info(
      {
        sha256: file.sha256,
        version: file.manifest.version,
        loadMs: Math.round(performance.now() - started),
      },
      'model loaded',
    );
    return runtime;
  }

  /** Runs `rows` windows laid end to end in `input`; resolves with every output of the graph. */
  async run(input: Float32Array, rows: number): Promise<ModelOutputs> {
    const tensor = new ort.Tensor('float32', input, inputDims(this.inputShape, rows, this.windowSize));
    const started = performance.now();
    try {
      const out = await this.session.run({ [this.inputName]: tensor });
      this.runs++;
      const us = ((performance.now() - started) * 1000) / Math.max(1, rows);
      this.usPerWindow = this.usPerWindow === 0 ? us : this.usPerWindow * 0.9 + us * 0.1;
      return out as unknown as ModelOutputs;
    } catch (err) {
      this.failures++;
      throw err;
    }
  }

  /** Mean compute time of one window, µs, rounded; 0 while unknown. What peers are told. */
  get computeUs(): number {
    return Math.round(this.usPerWindow);
  }

  get stats(): { runs: number; failures: number } {
    return { runs: this.runs, failures: this.failures };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

function windowWidth(id: string, shape: readonly Dim[], declared: number | undefined): number {
  const layout = windowWidthOf(shape, declared);
  if ('problem' in layout) throw new ModelShapeError(id, layout.problem);
  return layout.width;
}

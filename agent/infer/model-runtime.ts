import type { ModelManifest } from '../../models/manifest.js';
import { type LoadedModel, loadModelFile } from '../../models/manifest.js';
import { verifyLoadedModel } from '../../models/signature.js';
import { shapeText, TensorPlan } from '../../models/tensor-plan.js';
import { FieldmeshError } from '../../protocol/errors.js';
import type { ModelConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { type BackendKind, chooseBackend } from './backend-choice.js';
import type { FillInput, ModelCall } from './model-slot.js';
import { createInlineBackend, nativeAvailable } from './native-backend.js';
import type { ModelOutputs } from './postprocess.js';
import { createWasmBackend } from './wasm-backend.js';
import { type InferenceBackend, ModelWorkerError, WorkerBackend } from './worker-session.js';

export class ModelLoadError extends FieldmeshError {
  constructor(modelId: string, file: string, why: string, cause?: unknown) {
    super('MODEL_LOAD_FAILED', `model "${modelId}" (${file}): ${why}`, { cause });
  }
}

/** onnxruntime refused a call; says what was fed and what the manifest declares. */
export class ModelRunError extends FieldmeshError {
  constructor(modelId: string, why: string, cause?: unknown) {
    super('MODEL_RUN_FAILED', `model "${modelId}": ${why}`, { cause });
  }
}

export type { ModelOutputs } from './postprocess.js';

/** What a session is made from: a model entry without its swap and shadow settings. */
export type RuntimeConfig = Omit<ModelConfig, 'swap' | 'shadow'>;

/**
 * `worker: auto` moves a session to its own thread when one warm call takes this long. Below
 * it, handing each call to a thread (≈ 0.2 ms there and back) costs more than it frees.
 */
export const WORKER_FROM_US = 1000;

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
  private readonly session: InferenceBackend;
  /** Whether the session lives in its own worker thread (`models[].worker`). */
  readonly inWorker: boolean;
  /** The onnxruntime build the session runs on (`models[].backend`, with `auto` resolved). */
  readonly backend: BackendKind;
  /** How windows become the model's inputs. */
  readonly plan: TensorPlan;
  /** Path of the .onnx file it was loaded from (peers may fetch it by digest). */
  file = '';
  private runs = 0;
  private failures = 0;
  /** Moving mean of the compute time of one window, µs (0 until the first run). */
  private usPerWindow = 0;
  /** Fastest warm-up call, µs: what `worker: auto` decides by (Infinity without warm-up). */
  private warmupUs = Number.POSITIVE_INFINITY;

  private constructor(
    id: string,
    manifest: ModelManifest,
    sha256: string,
    session: InferenceBackend,
    backend: BackendKind,
  ) {
    this.id = id;
    this.manifest = manifest;
    this.sha256 = sha256;
    this.session = session;
    this.backend = backend;
    this.inWorker = session instanceof WorkerBackend;
    this.plan = new TensorPlan(id, manifest);
    this.windowSize = this.plan.width;
    this.batchable = this.plan.batchable;
  }

  static async load(cfg: RuntimeConfig, components: { logger: Logger }): Promise<ModelRuntime> {
    const log = components.logger.child({ component: 'model', model: cfg.id });
    const backend = await backendFor(cfg, log);
    const file = await loadModelFile(cfg.manifest); // throws on a digest mismatch, naming both digests
    precheck(cfg.id, file);
    const started = performance.now();
    let runtime = await ModelRuntime.open(cfg, file, backend, cfg.worker === true);
    const callUs = runtime.warmupUs;
    if (cfg.worker === 'auto' && backend === 'native' && callUs >= WORKER_FROM_US) {
      // Slow enough to hold the event loop up noticeably: move the session to its own thread.
      const moved = await ModelRuntime.open(cfg, file, backend, true);
      await runtime.close();
      runtime = moved;
    }
    log.info(
      {
        sha256: file.sha256,
        version: file.manifest.version,
        loadMs: Math.round(performance.now() - started),
        callUs: Math.round(callUs),
        thread: runtime.inWorker ? 'worker' : 'main',
        backend: runtime.backend,
      },
      'model loaded',
    );
    return runtime;
  }

  /**
   * Creates the session (native on this thread or a worker, or WebAssembly on this thread),
   * checks it against the manifest, warms it up.
   */
  private static async open(
    cfg: RuntimeConfig,
    file: LoadedModel,
    backend: BackendKind,
    worker: boolean,
  ): Promise<ModelRuntime> {
    const options = {
      intraOpNumThreads: cfg.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      enableCpuMemArena: cfg.memoryArena,
      graphOptimizationLevel: 'all',
    } as const;
    let session: InferenceBackend;
    try {
      if (backend === 'wasm') session = await createWasmBackend(file.bytes, options);
      else if (worker) session = await WorkerBackend.create(cfg.id, file.bytes, options);
      else session = await createInlineBackend(file.bytes, options);
    } catch (err) {
      throw new ModelLoadError(cfg.id, file.path, `onnxruntime refused it: ${(err as Error).message}`, err);
    }
    try {
      const runtime = new ModelRuntime(cfg.id, file.manifest, file.sha256, session, backend);
      runtime.file = file.path;
      // auto decides by the fastest warm call: enough of them that a first slow call or a busy
      // moment does not send a fast model to a worker.
      await runtime.check(cfg.worker === 'auto' ? Math.max(3, cfg.warmupRuns) : cfg.warmupRuns);
      return runtime;
    } catch (err) {
      await session.release().catch(() => undefined); // a worker left running would keep the process up
      throw err;
    }
  }

  /**
   * Warms the session up on zeros (the manifest was held against the graph before the session
   * was made: precheck). A graph that cannot take the windows fails here, with MODEL_RUN_FAILED.
   */
  private async check(warmupRuns: number): Promise<void> {
    const zeros = new Float32Array(this.windowSize);
    for (let i = 0; i < warmupRuns; i++) {
      const t = performance.now();
      await this.run(zeros, 1);
      this.warmupUs = Math.min(this.warmupUs, (performance.now() - t) * 1000);
    }
  }

  /**
   * Runs `rows` windows laid end to end in `input` (the float32 window tensor); resolves with
   * the manifest's outputs as onnxruntime gives them (float16 as bit patterns, int64 as bigints).
   */
  async run(input: Float32Array, rows: number): Promise<ModelOutputs> {
    const feeds = this.plan.feeds(input, rows);
    const started = performance.now();
    let out: ModelOutputs;
    try {
      out = await this.session.run(feeds, this.plan.fetches);
    } catch (err) {
      this.failures++;
      throw this.runError(err, feeds);
    }
    this.runs++;
    const us = ((performance.now() - started) * 1000) / Math.max(1, rows);
    this.usPerWindow = this.usPerWindow === 0 ? us : this.usPerWindow * 0.9 + us * 0.1;
    return out;
  }

  /** The call interface of ModelSlot, for a model that is never swapped (tests, benches). */
  async call(rows: number, fill: FillInput): Promise<ModelCall> {
    const input = fill(this);
    return { outputs: await this.run(input, rows), model: this, input };
  }

  /** What ModelSlot calls the version new calls go to: always this one. */
  get current(): ModelRuntime {
    return this;
  }

  private runError(err: unknown, feeds: ReturnType<TensorPlan['feeds']>): Error {
    if (err instanceof ModelWorkerError) return err;
    const fed = feeds.map((f) => `"${f.name}" ${f.type} ${shapeText(f.dims)}`).join(', ');
    const declared = this.manifest.inputs
      .map((i) => `"${i.name}" ${i.type} ${shapeText(i.shape)}`)
      .join(', ');
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    return new ModelRunError(
      this.id,
      `onnxruntime refused the call: ${why}. Fed ${fed}; the manifest declares ${declared}`,
      err,
    );
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

/**
 * Before any session: the bytes are an ONNX graph whose inputs and outputs the manifest
 * describes (every difference listed), and windows can feed those inputs.
 */
function precheck(id: string, file: LoadedModel): void {
  try {
    verifyLoadedModel(file);
  } catch (err) {
    // The inner messages start with the file or model they are about, which ModelLoadError names.
    let why = (err as Error).message;
    for (const prefix of [`${file.path}: `, `${file.manifestPath}: `, `model "${id}": `]) {
      if (why.startsWith(prefix)) why = why.slice(prefix.length);
    }
    throw new ModelLoadError(id, file.path, why, err);
  }
}

/**
 * Resolves `models[].backend` for this machine. `wasm` never loads onnxruntime-node at all;
 * the other settings probe it once per process. WebAssembly sessions stay on the main thread.
 */
async function backendFor(cfg: RuntimeConfig, log: Logger): Promise<BackendKind> {
  const native = cfg.backend === 'wasm' ? undefined : await nativeAvailable();
  const backend = native === undefined ? 'wasm' : chooseBackend(cfg.id, cfg.backend, native);
  if (native?.available === false) {
    log.warn(
      { reason: native.reason },
      'no native onnxruntime on this machine; running the model on WebAssembly',
    );
  }
  if (backend === 'wasm' && cfg.worker === true) {
    log.warn('worker: true does not apply to the WebAssembly backend; the model runs on the main thread');
  }
  return backend;
}

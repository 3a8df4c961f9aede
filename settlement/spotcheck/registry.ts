import { createHash } from 'node:crypto';
import type * as OrtNode from 'onnxruntime-node';
import type { Logger } from 'pino';
import { loadModelFile, type ModelManifest } from '../../models/manifest.js';
import { TensorPlan } from '../../models/tensor-plan.js';
import { loadWebOrt } from '../../models/web-ort.js';
import { FieldmeshError } from '../../protocol/errors.js';

/**
 * The models the settlement service can re-run for spot checks, keyed by the lower-case hex
 * sha256 of the .onnx bytes — the digest receipts carry as modelSha256. Sessions are created
 * on first use (one intra-op thread: checks are rare and the service shares its cores).
 */

type Ort = typeof OrtNode;
let ortLoading: Promise<Ort> | undefined;

/**
 * onnxruntime, loaded when the first spot check needs a session: onnxruntime-node's entry
 * point loads a platform binary at import time, which a service that never re-runs a model
 * must not pay for. Where no native build loads (32-bit ARM, the armv7 bundle) the checks run
 * on onnxruntime-web's WebAssembly build, which has the same API and gives the same scores
 * within the checks' tolerance.
 */
function loadOrt(): Promise<Ort> {
  ortLoading ??= import('onnxruntime-node').catch(async () => (await loadWebOrt()) as unknown as Ort);
  return ortLoading;
}

/** A model the registry will not take; the message names the model and what to fix. */
export class ModelRegistryError extends FieldmeshError {
  constructor(source: string, why: string, cause?: unknown) {
    super('MODEL_REGISTRY_REFUSED', `spot-check model ${source} refused: ${why}`, { cause });
  }
}

/** The service could not create or run a session: its own failure, never the provider's. */
export class ModelUnavailableError extends FieldmeshError {
  constructor(id: string, sha256: string, why: string, cause?: unknown) {
    super(
      'MODEL_UNAVAILABLE',
      `spot-check model "${id}" (sha256 ${sha256}) cannot run: ${why}. ` +
        'Retry the check later; do not void credit for it',
      { cause },
    );
  }
}

export interface RegistryProblem {
  readonly manifestPath: string;
  readonly error: Error;
}

export class RegisteredModel {
  readonly windowSize: number;
  /** How windows become the model's inputs: the agent's own plan (models/tensor-plan.ts). */
  readonly plan: TensorPlan;
  /** Whether the first input dimension is symbolic, so `rows` windows run in one call. */
  readonly batchable: boolean;
  private pending: Promise<OrtNode.InferenceSession> | undefined;

  constructor(
    readonly id: string,
    readonly sha256: string,
    readonly manifest: ModelManifest,
    private readonly bytes: Uint8Array,
  ) {
    try {
      this.plan = new TensorPlan(id, manifest);
    } catch (err) {
      throw new ModelRegistryError(`"${id}"`, (err as Error).message, err);
    }
    this.windowSize = this.plan.width;
    this.batchable = this.plan.batchable;
  }

  /** The window input's shape as the manifest declares it, for messages. */
  get inputShape(): string {
    return this.plan.declaredShape;
  }

  /** The onnxruntime session, created on first call and shared afterwards. */
  session(): Promise<OrtNode.InferenceSession> {
    this.pending ??= this.createSession();
    return this.pending;
  }

  /** Runs `rows` windows laid end to end in `input`; resolves with every output of the graph. */
  async run(input: Float32Array, rows: number): Promise<OrtNode.InferenceSession.ReturnType> {
    const session = await this.session();
    const ort = await loadOrt();
    try {
      const feeds: Record<string, OrtNode.Tensor> = {};
      for (const f of this.plan.feeds(input, rows)) feeds[f.name] = new ort.Tensor(f.type, f.data, f.dims);
      return await session.run(feeds, this.plan.fetches);
    } catch (err) {
      throw new ModelUnavailableError(
        this.id,
        this.sha256,
        `inference failed: ${(err as Error).message}`,
        err,
      );
    }
  }

  /** Releases the session if one was created; the next session() call creates a new one. */
  async close(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (pending === undefined) return;
    const session = await pending.catch(() => undefined);
    await session?.release();
  }

  private async createSession(): Promise<OrtNode.InferenceSession> {
    try {
      const ort = await loadOrt();
      const session = await ort.InferenceSession.create(this.bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
      const missing = this.manifest.inputs.find((i) => !session.inputNames.includes(i.name));
      if (missing !== undefined) {
        await session.release();
        throw new Error(
          `manifest input "${missing.name}" is not in the graph (${session.inputNames.join(', ')})`,
        );
      }
      return session;
    } catch (err) {
      this.pending = undefined; // a later check may retry
      throw new ModelUnavailableError(this.id, this.sha256, (err as Error).message, err);
    }
  }
}

export class ModelRegistry {
  private readonly models = new Map<string, RegisteredModel>();
  private readonly log: Logger;

  constructor(components: { logger: Logger }) {
    this.log = components.logger.child({ component: 'spotcheck-registry' });
  }

  /**
   * Loads every manifest (digest-checked by loadModelFile). A manifest that cannot be used is
   * reported in `problems`, naming its file, and the others still load.
   */
  static async fromManifests(
    paths: readonly string[],
    components: { logger: Logger },
  ): Promise<{
    registry: ModelRegistry;
    problems: RegistryProblem[];
    /** The model each loaded manifest registered, in the order given. */
    loaded: { manifestPath: string; model: RegisteredModel }[];
  }> {
    const registry = new ModelRegistry(components);
    const problems: RegistryProblem[] = [];
    const loaded: { manifestPath: string; model: RegisteredModel }[] = [];
    for (const manifestPath of paths) {
      try {
        const file = await loadModelFile(manifestPath);
        loaded.push({
          manifestPath,
          model: registry.register(file.bytes, { id: file.manifest.id, manifest: file.manifest }),
        });
      } catch (err) {
        const error = new ModelRegistryError(
          manifestPath,
          `${(err as Error).message}. The other models are still registered; receipts for this one cannot be checked until it is fixed`,
          err,
        );
        registry.log.error(
          { err: error, manifestPath },
          'model not registered; receipts for it are answered unknown_model until it is fixed',
        );
        problems.push({ manifestPath, error });
      }
    }
    return { registry, problems, loaded };
  }

  /** Registers a model by its bytes; idempotent for bytes already registered. */
  register(bytes: Uint8Array, info: { id: string; manifest: ModelManifest }): RegisteredModel {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const existing = this.models.get(sha256);
    if (existing !== undefined) return existing;
    if (info.manifest.sha256 !== sha256) {
      throw new ModelRegistryError(
        `"${info.id}"`,
        `the bytes have sha256 ${sha256} but the manifest names ${info.manifest.sha256}; register the model the manifest was made for`,
      );
    }
    const model = new RegisteredModel(info.id, sha256, info.manifest, bytes.slice());
    this.models.set(sha256, model);
    this.log.info({ model: info.id, sha256, windowSize: model.windowSize }, 'spot-check model registered');
    return model;
  }

  has(digestHex: string): boolean {
    return this.models.has(digestHex.toLowerCase());
  }

  get(digestHex: string): RegisteredModel | undefined {
    return this.models.get(digestHex.toLowerCase());
  }

  list(): RegisteredModel[] {
    return [...this.models.values()];
  }

  /** Releases every session; the registry stays usable (sessions are re-created on demand). */
  async close(): Promise<void> {
    await Promise.all(this.list().map((m) => m.close()));
  }
}

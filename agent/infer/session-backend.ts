import type { ModelOutputs } from './postprocess.js';
import type { InferenceBackend } from './worker-session.js';

/** What a session of either onnxruntime package (node or web) offers a backend. */
export interface OrtSession {
  readonly inputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<unknown>;
  release(): Promise<void>;
}

/**
 * A session on the agent's own thread, from either onnxruntime package: each call blocks the
 * event loop while it computes. `tensor` builds the package's own float32 tensor.
 */
export class SessionBackend implements InferenceBackend {
  constructor(
    private readonly session: OrtSession,
    private readonly tensor: (data: Float32Array, dims: number[]) => unknown,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  async run(inputName: string, data: Float32Array, dims: number[]): Promise<ModelOutputs> {
    return (await this.session.run({ [inputName]: this.tensor(data, dims) })) as ModelOutputs;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

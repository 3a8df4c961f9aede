import type { Feed } from '../../models/tensor-plan.js';
import type { ModelOutputs } from './postprocess.js';
import type { InferenceBackend } from './worker-session.js';

/** What a session of either onnxruntime package (node or web) offers a backend. */
export interface OrtSession {
  run(feeds: Record<string, unknown>, fetches: readonly string[]): Promise<unknown>;
  release(): Promise<void>;
}

/** Builds a tensor of the onnxruntime package a session belongs to. */
export type TensorFactory = (type: Feed['type'], data: Feed['data'], dims: number[]) => unknown;

/**
 * A session on the agent's own thread, from either onnxruntime package: each call blocks the
 * event loop while it computes. `tensor` builds the package's own tensors.
 */
export class SessionBackend implements InferenceBackend {
  constructor(
    private readonly session: OrtSession,
    private readonly tensor: TensorFactory,
  ) {}

  run(feeds: readonly Feed[], fetches: readonly string[]): Promise<ModelOutputs> {
    const named: Record<string, unknown> = {};
    for (const f of feeds) named[f.name] = this.tensor(f.type, f.data, f.dims);
    return this.session.run(named, fetches) as Promise<ModelOutputs>;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

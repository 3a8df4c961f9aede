import type * as OrtNode from 'onnxruntime-node';
import { loadWebOrt } from '../../models/web-ort.js';
import type { BenchModel } from './models.js';

export type Backend = 'native' | 'wasm';

/**
 * The baseline: a bare onnxruntime session and nothing else, created from the model's bytes
 * with the options the agent uses (one intra-op thread, sequential, every graph optimisation,
 * memory arena on), fed a window that is already normalised.
 */
export interface BareSession {
  /** One call on `data` (one normalised window); resolves with the score's first value. */
  run(data: Float32Array): Promise<number>;
  release(): Promise<void>;
}

/** onnxruntime-web set up as the agent sets it up: local .wasm, one thread, no proxy. */
export const webOrt = loadWebOrt;

export async function createBareSession(backend: Backend, bytes: Uint8Array): Promise<BareSession> {
  return bareSession(backend, bytes);
}

/** A bare session on the model, its calls shaped by the model's input and score output. */
export async function bareSessionFor(backend: Backend, model: BenchModel): Promise<BareSession> {
  return bareSession(backend, model.bytes, model);
}

/** The two onnxruntime packages differ in types, not in what a bare call does. */
async function bareSession(backend: Backend, bytes: Uint8Array, model?: BenchModel): Promise<BareSession> {
  const ort = (
    backend === 'native' ? await import('onnxruntime-node') : await loadWebOrt()
  ) as typeof OrtNode;
  const session = await ort.InferenceSession.create(bytes, {
    ...(backend === 'wasm'
      ? { executionProviders: ['wasm'] }
      : { intraOpNumThreads: 1, interOpNumThreads: 1 }),
    executionMode: 'sequential',
    enableCpuMemArena: true,
    graphOptimizationLevel: 'all',
  });
  const name = model?.inputName ?? (session.inputNames[0] as string);
  const dims = model?.dims ?? [];
  const score = model?.post.score ?? (session.outputNames[0] as string);
  return {
    async run(data) {
      const out = await session.run({ [name]: new ort.Tensor('float32', data, dims) });
      return Number(out[score]?.data[0]);
    },
    release: () => session.release(),
  };
}

/** `count` calls back to back, one already-normalised window each; wall time per window, µs. */
export async function barePerWindowUs(
  session: BareSession,
  inputs: readonly Float32Array[],
  count: number,
): Promise<number> {
  let sink = 0;
  const started = performance.now();
  for (let i = 0; i < count; i++) sink += await session.run(inputs[i % inputs.length] as Float32Array);
  const us = ((performance.now() - started) * 1000) / count;
  if (Number.isNaN(sink)) throw new Error('bench: the model gave a NaN score');
  return us;
}

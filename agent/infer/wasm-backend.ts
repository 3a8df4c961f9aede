import { loadWebOrt } from '../../models/web-ort.js';
import { SessionBackend } from './session-backend.js';

export interface WasmBackendOptions {
  /** Let onnxruntime keep a memory arena inside the WebAssembly heap. */
  readonly enableCpuMemArena: boolean;
}

/**
 * An onnxruntime-web (WebAssembly) session on the agent's own thread: for machines with no
 * native onnxruntime build (armv7), or where the config asks for it. Each call blocks the
 * event loop while it computes, like a native session with `worker: false`. Rejects with
 * onnxruntime-web's reason when it refuses the bytes.
 */
export async function createWasmBackend(
  bytes: Uint8Array,
  options: WasmBackendOptions,
): Promise<SessionBackend> {
  const ort = await loadWebOrt();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableCpuMemArena: options.enableCpuMemArena,
  });
  return new SessionBackend(session, (type, data, dims) => new ort.Tensor(type, data, dims));
}

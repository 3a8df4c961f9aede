import { createRequire } from 'node:module';
import path from 'node:path';
import type * as OrtWeb from 'onnxruntime-web';
import { SessionBackend } from './session-backend.js';

type Ort = typeof OrtWeb;

let web: Promise<Ort> | undefined;

/**
 * onnxruntime-web, loaded and configured on first use, so an agent that runs every model
 * natively never loads it. Configured for an offline edge box: the .wasm binary is read from
 * the installed package rather than fetched, and runs single-threaded on the calling thread
 * (threaded WebAssembly would start its own worker pool per process and needs
 * SharedArrayBuffer; the proxy worker would add a hop to every call).
 */
export function loadWebOrt(): Promise<Ort> {
  web ??= (async () => {
    const ort = await import('onnxruntime-web');
    const wasm = createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm');
    ort.env.wasm.wasmPaths = `${path.dirname(wasm)}${path.sep}`;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    return ort;
  })();
  return web;
}

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

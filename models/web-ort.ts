import { createRequire } from 'node:module';
import path from 'node:path';
import type * as OrtWeb from 'onnxruntime-web';

type Ort = typeof OrtWeb;

let web: Promise<Ort> | undefined;

/**
 * onnxruntime-web, loaded and configured on first use, for the agent's WebAssembly backend and
 * the settlement service's spot checks where no native build loads. Configured for an offline
 * edge box: the .wasm binary is read from the installed package rather than fetched, and runs
 * single-threaded on the calling thread (threaded WebAssembly would start its own worker pool
 * per process and needs SharedArrayBuffer; the proxy worker would add a hop to every call).
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

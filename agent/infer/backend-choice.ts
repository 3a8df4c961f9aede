import { FieldmeshError } from '../../protocol/errors.js';

/** `models[].backend`: which onnxruntime build runs the model. */
export type BackendSetting = 'auto' | 'native' | 'wasm';

/** The onnxruntime build a model session actually runs on. */
export type BackendKind = 'native' | 'wasm';

/** Whether onnxruntime-node loads on this machine, and if not, why. */
export type NativeProbe =
  | { readonly available: true }
  | { readonly available: false; readonly reason: string };

/** `backend: native` was asked for on a machine where onnxruntime-node cannot run. */
export class NativeBackendUnavailableError extends FieldmeshError {
  constructor(modelId: string, reason: string) {
    super(
      'MODEL_BACKEND_UNAVAILABLE',
      `model "${modelId}": backend is "native" but there is no native onnxruntime for ` +
        `${process.platform}/${process.arch} (${reason}); set backend: wasm (or auto, which falls ` +
        'back to WebAssembly) on this model in the config',
    );
  }
}

/**
 * Picks the build for one model. `auto` prefers native (threads, a worker thread, faster on
 * heavy models, no WebAssembly compile at start) and falls back to WebAssembly where native
 * cannot load.
 * Throws NativeBackendUnavailableError when `native` is demanded but unavailable.
 */
export function chooseBackend(modelId: string, setting: BackendSetting, native: NativeProbe): BackendKind {
  switch (setting) {
    case 'wasm':
      return 'wasm';
    case 'native':
      if (!native.available) throw new NativeBackendUnavailableError(modelId, native.reason);
      return 'native';
    case 'auto':
      return native.available ? 'native' : 'wasm';
  }
}

import type * as OrtNode from 'onnxruntime-node';
import type { NativeProbe } from './backend-choice.js';
import { SessionBackend } from './session-backend.js';

type Ort = typeof OrtNode;

let native: Promise<Ort> | undefined;

/**
 * onnxruntime-node, loaded on first use. Never imported statically: its entry point loads a
 * platform binary at import time and throws where none ships (armv7), which would stop an
 * agent that only wants WebAssembly before it starts.
 */
export function loadNativeOrt(): Promise<Ort> {
  native ??= import('onnxruntime-node');
  return native;
}

/**
 * Whether onnxruntime-node can run here. 32-bit ARM is answered without trying: no build is
 * published for it. Elsewhere the module is loaded once, which also catches a binary that
 * exists but does not load (a libc too old, a missing shared library).
 */
export async function probeNative(
  arch: string = process.arch,
  load: () => Promise<unknown> = loadNativeOrt,
): Promise<NativeProbe> {
  if (arch === 'arm') {
    return { available: false, reason: 'onnxruntime-node publishes no build for 32-bit ARM (armv7)' };
  }
  try {
    await load();
    return { available: true };
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    return { available: false, reason: `onnxruntime-node did not load: ${first}` };
  }
}

let probed: Promise<NativeProbe> | undefined;

/** probeNative() for this machine, asked once per process and remembered with its reason. */
export function nativeAvailable(): Promise<NativeProbe> {
  probed ??= probeNative();
  return probed;
}

/** A native session on the agent's own thread (`worker: false`, or `auto` for a fast model). */
export async function createInlineBackend(
  bytes: Uint8Array,
  options: OrtNode.InferenceSession.SessionOptions,
): Promise<SessionBackend> {
  const ort = await loadNativeOrt();
  const session = await ort.InferenceSession.create(bytes, options);
  return new SessionBackend(session, (type, data, dims) => new ort.Tensor(type, data, dims));
}

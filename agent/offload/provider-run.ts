import type { ModelOutputs, ModelRuntime } from '../infer/model-runtime.js';
import type { OutputTensor } from '../infer/postprocess.js';

/** One model call the provider made, for its receipt. */
export interface OffloadCall {
  /** The input exactly as handed to the model (a view, valid during the callback). */
  readonly input: Float32Array;
  readonly outputs: ModelOutputs;
  readonly startTimeMs: number;
  readonly computeTimeUs: number;
  readonly rows: number;
}

export interface OffloadRun {
  readonly outputs: ModelOutputs;
  /** Sum of the calls' compute time, microseconds. */
  readonly computeUs: number;
  readonly calls: number;
}

/**
 * Runs `rows` windows: as one batch when the model's first dimension is symbolic, else one call
 * per window with the outputs stacked along a new (or the size-1) first dimension. `onCall` sees
 * every call, so each gets a receipt. Rejects with the model's error.
 */
export async function runWindows(
  model: ModelRuntime,
  input: Float32Array,
  rows: number,
  onCall: (call: OffloadCall) => void,
): Promise<OffloadRun> {
  if (model.batchable || rows === 1) {
    const call = await timedCall(model, input, rows);
    onCall(call);
    return { outputs: call.outputs, computeUs: call.computeTimeUs, calls: 1 };
  }
  const width = model.windowSize;
  const parts: ModelOutputs[] = [];
  let computeUs = 0;
  for (let row = 0; row < rows; row++) {
    const call = await timedCall(model, input.subarray(row * width, (row + 1) * width), 1);
    onCall(call);
    parts.push(call.outputs);
    computeUs += call.computeTimeUs;
  }
  return { outputs: stack(parts), computeUs, calls: rows };
}

async function timedCall(model: ModelRuntime, input: Float32Array, rows: number): Promise<OffloadCall> {
  const startTimeMs = Date.now();
  const started = performance.now();
  const outputs = await model.run(input, rows);
  const computeTimeUs = Math.round((performance.now() - started) * 1000);
  return { input, outputs, startTimeMs, computeTimeUs, rows };
}

type Data = OutputTensor['data'] & { length: number; set(a: ArrayLike<unknown>, at: number): void };

/** Concatenates per-window outputs, name by name, along the first dimension. */
function stack(parts: readonly ModelOutputs[]): ModelOutputs {
  const first = parts[0] ?? {};
  const out: Record<string, OutputTensor> = {};
  for (const [name, t] of Object.entries(first)) {
    const datas = parts.map((p) => (p[name] as OutputTensor).data as Data);
    const total = datas.reduce((n, d) => n + d.length, 0);
    const Ctor = (t.data as Data).constructor as new (n: number) => Data;
    const data = new Ctor(total);
    let at = 0;
    for (const d of datas) {
      data.set(d as ArrayLike<unknown>, at);
      at += d.length;
    }
    const dims = t.dims[0] === 1 ? [parts.length, ...t.dims.slice(1)] : [parts.length, ...t.dims];
    out[name] = t.type === undefined ? { data, dims } : { data, dims, type: t.type };
  }
  return out;
}

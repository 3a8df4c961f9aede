import type { Receipt } from '../../protocol/receipt.js';
import { encodeReceipt, receiptId } from '../../protocol/receipt.js';
import type { Reveal } from '../../protocol/reveal.js';
import { outputOrder, sha256, tensorBytes } from '../../protocol/tensors.js';
import { type ModelRegistry, ModelUnavailableError, type RegisteredModel } from './registry.js';

/**
 * Judges one spot-check reveal (docs/protocol.md §11.4): the revealed tensors must be the ones
 * the receipt committed to, and the registered model, run again on the revealed input, must
 * give the revealed output within a tolerance (float kernels differ slightly across CPUs and
 * onnxruntime builds, so exact equality would void honest work).
 *
 * A verdict of `ok: false` is the provider's fault and voids the batch's credit. When the
 * service itself cannot run the model, checkReveal throws ModelUnavailableError instead: that
 * check should be retried, not held against the provider.
 */
export interface Tolerance {
  /** Allowed absolute difference. */
  readonly abs: number;
  /** Allowed difference relative to the recomputed value. */
  readonly rel: number;
}

export const DEFAULT_TOLERANCE: Tolerance = Object.freeze({ abs: 1e-4, rel: 1e-3 });

export type CheckVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const FLOAT32_BYTES = 4;
const PASS: CheckVerdict = Object.freeze({ ok: true });

interface ExpectedOutput {
  readonly name: string;
  readonly type: string;
  readonly bytes: Uint8Array;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fail = (reason: string): CheckVerdict => ({ ok: false, reason });

export async function checkReveal(
  receipt: Receipt,
  reveal: Reveal,
  registry: ModelRegistry,
  tolerance: Tolerance = DEFAULT_TOLERANCE,
): Promise<CheckVerdict> {
  const problem = commitmentProblem(receipt, reveal);
  if (problem !== null) return fail(problem);
  const model = registry.get(hex(receipt.modelSha256));
  if (model === undefined) {
    return fail(
      `the receipt names model sha256 ${hex(receipt.modelSha256)}, which is not registered with the service`,
    );
  }
  const shapeProblem = inputShapeProblem(receipt, reveal, model);
  if (shapeProblem !== null) return fail(shapeProblem);
  const expected = await recompute(model, reveal.input, receipt.sampleCount);
  const mismatch = compareOutputs(expected, reveal.output, tolerance);
  return mismatch === null ? PASS : fail(mismatch);
}

/** The reveal is for this receipt and carries the exact bytes its digests commit to. */
function commitmentProblem(receipt: Receipt, reveal: Reveal): string | null {
  const id = receiptId(encodeReceipt(receipt));
  if (!Buffer.from(id).equals(reveal.receiptId)) {
    return `the reveal is for receipt ${hex(reveal.receiptId)}, not for receipt ${hex(id)}`;
  }
  const inputHash = sha256(reveal.input);
  if (!Buffer.from(inputHash).equals(receipt.inputDigest)) {
    return (
      `the revealed input (${reveal.input.length} bytes) has sha256 ${hex(inputHash)}, ` +
      `but the receipt committed to inputDigest ${hex(receipt.inputDigest)}`
    );
  }
  const outputHash = sha256(reveal.output);
  if (!Buffer.from(outputHash).equals(receipt.outputDigest)) {
    return (
      `the revealed output (${reveal.output.length} bytes) has sha256 ${hex(outputHash)}, ` +
      `but the receipt committed to outputDigest ${hex(receipt.outputDigest)}`
    );
  }
  return null;
}

function inputShapeProblem(receipt: Receipt, reveal: Reveal, model: RegisteredModel): string | null {
  const expected = receipt.sampleCount * model.windowSize * FLOAT32_BYTES;
  if (reveal.input.length !== expected) {
    return (
      `the revealed input is ${reveal.input.length} bytes, but ${receipt.sampleCount} sample(s) of ` +
      `model "${model.id}" (window ${model.windowSize}, float32) take ${expected} bytes`
    );
  }
  if (!model.batchable && receipt.sampleCount !== 1) {
    return (
      `model "${model.id}" takes one window per run (input shape ${model.inputShape}), ` +
      `but the receipt claims ${receipt.sampleCount} samples in one job`
    );
  }
  return null;
}

/** Runs the model on the revealed input; outputs in the §4.2 order with their bytes. */
async function recompute(model: RegisteredModel, input: Uint8Array, rows: number): Promise<ExpectedOutput[]> {
  const outputs = await model.run(float32FromLittleEndian(input), rows);
  return outputOrder(Object.keys(outputs)).map((name) => {
    const tensor = outputs[name]!;
    const data: unknown = tensor.data;
    if (!ArrayBuffer.isView(data)) {
      throw new ModelUnavailableError(
        model.id,
        model.sha256,
        `output "${name}" is a ${tensor.type} tensor with no byte form`,
      );
    }
    return { name, type: tensor.type, bytes: tensorBytes(data) };
  });
}

function float32FromLittleEndian(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / FLOAT32_BYTES);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * FLOAT32_BYTES, true);
  return out;
}

function compareOutputs(
  expected: readonly ExpectedOutput[],
  revealed: Uint8Array,
  tol: Tolerance,
): string | null {
  const total = expected.reduce((n, o) => n + o.bytes.length, 0);
  if (revealed.length !== total) {
    const sizes = expected.map((o) => `"${o.name}" ${o.bytes.length}`).join(', ');
    return `the revealed output is ${revealed.length} bytes, but the model's outputs on the revealed input take ${total} bytes (${sizes})`;
  }
  let at = 0;
  for (const out of expected) {
    const got = revealed.subarray(at, at + out.bytes.length);
    const reader = FLOAT_READERS[out.type];
    const problem = reader === undefined ? compareExact(out, got) : compareFloats(out, got, reader, tol);
    if (problem !== null) return problem;
    at += out.bytes.length;
  }
  return null;
}

interface FloatReader {
  readonly width: number;
  read(view: DataView, offset: number): number;
}

// Float outputs are compared as numbers within the tolerance, each in its own precision.
const FLOAT_READERS: Readonly<Record<string, FloatReader>> = {
  float32: { width: FLOAT32_BYTES, read: (v, at) => v.getFloat32(at, true) },
  float64: { width: 8, read: (v, at) => v.getFloat64(at, true) },
};

function compareFloats(
  out: ExpectedOutput,
  got: Uint8Array,
  reader: FloatReader,
  tol: Tolerance,
): string | null {
  const a = new DataView(got.buffer, got.byteOffset, got.byteLength);
  const b = new DataView(out.bytes.buffer, out.bytes.byteOffset, out.bytes.byteLength);
  for (let i = 0; i < out.bytes.length / reader.width; i++) {
    const revealed = reader.read(a, i * reader.width);
    const computed = reader.read(b, i * reader.width);
    if (withinTolerance(revealed, computed, tol)) continue;
    const allowed = tol.abs + tol.rel * Math.abs(computed);
    return (
      `output "${out.name}" element ${i} is ${revealed} in the reveal, but the registered model computes ` +
      `${computed} on the revealed input (|difference| ${Math.abs(revealed - computed)} > allowed ${allowed})`
    );
  }
  return null;
}

/** |a − b| ≤ abs + rel × |b|; NaN matches only NaN and an infinity only itself. */
export function withinTolerance(revealed: number, computed: number, tol: Tolerance): boolean {
  if (!Number.isFinite(computed)) return Object.is(revealed, computed);
  return Math.abs(revealed - computed) <= tol.abs + tol.rel * Math.abs(computed);
}

const EXACT_WIDTHS: Readonly<Record<string, number>> = {
  int16: 2,
  uint16: 2,
  float16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
};

/** Other outputs (labels, indices, float16) are compared byte for byte. */
function compareExact(out: ExpectedOutput, got: Uint8Array): string | null {
  const index = got.findIndex((byte, i) => byte !== out.bytes[i]);
  if (index < 0) return null;
  const element = Math.floor(index / (EXACT_WIDTHS[out.type] ?? 1));
  return (
    `output "${out.name}" (${out.type}) element ${element} differs from what the registered model computes ` +
    `on the revealed input (byte ${index}: ${got[index]} revealed, ${out.bytes[index]} computed)`
  );
}

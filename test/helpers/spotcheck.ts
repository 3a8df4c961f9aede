import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { loadModelFile } from '../../models/manifest.js';
import { createRng } from '../../models/prng.js';
import type { Receipt } from '../../protocol/receipt.js';
import { decodeReceipt, receiptId } from '../../protocol/receipt.js';
import type { Reveal } from '../../protocol/reveal.js';
import { outputBytes, sha256 } from '../../protocol/tensors.js';
import { receiptBody, testIdentity } from './receipts.js';

/** The example models' manifests, absolute paths. */
export const EXAMPLE_MANIFESTS = ['vibration-ae', 'temperature-ae'].map((m) =>
  fileURLToPath(new URL(`../../models/examples/${m}/manifest.json`, import.meta.url)),
);

export interface HonestJob {
  readonly receipt: Receipt;
  readonly reveal: Reveal;
  readonly modelSha256Hex: string;
}

/** Normalised-looking model input: `rows` windows of `width` standard normals. */
export function windows(seed: number, rows: number, width: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: rows * width }, () => rng.normal());
}

/**
 * What an honest agent does: runs the model in its own onnxruntime session (default options,
 * as the agent's would differ from the service's), then writes a receipt over the §4.2 bytes.
 */
export async function honestJob(manifestPath: string, rows: number, sequence = 1): Promise<HonestJob> {
  const file = await loadModelFile(manifestPath);
  const width = file.manifest.preprocessing.window;
  const input = windows(sequence, rows, width);
  const session = await ort.InferenceSession.create(file.bytes);
  let outputs: ort.InferenceSession.ReturnType;
  try {
    const name = file.manifest.inputs[0]!.name;
    outputs = await session.run({ [name]: new ort.Tensor('float32', input, [rows, width]) });
  } finally {
    await session.release();
  }
  const inputBytes = new Uint8Array(input.buffer.slice(0));
  const output = outputBytes(outputs as unknown as Record<string, { data: Float32Array }>);
  const body = receiptBody({ provider: testIdentity(1), consumer: testIdentity(2) }, sequence, {
    modelSha256: Buffer.from(file.sha256, 'hex'),
    inputDigest: sha256(inputBytes),
    outputDigest: sha256(output),
    sampleCount: rows,
  });
  return {
    receipt: decodeReceipt(body),
    reveal: { receiptId: receiptId(body), input: inputBytes, output: new Uint8Array(output) },
    modelSha256Hex: file.sha256,
  };
}

/** The same job with the receipt re-committed to other tensors (a consistent liar). */
export function recommit(
  job: HonestJob,
  tensors: { input?: Uint8Array; output?: Uint8Array },
  over: Partial<Receipt> = {},
): HonestJob {
  const input = tensors.input ?? job.reveal.input;
  const output = tensors.output ?? job.reveal.output;
  const body = receiptBody({ provider: testIdentity(1), consumer: testIdentity(2) }, job.receipt.sequence, {
    ...job.receipt,
    inputDigest: sha256(input),
    outputDigest: sha256(output),
    ...over,
  });
  return {
    receipt: decodeReceipt(body),
    reveal: { receiptId: receiptId(body), input, output },
    modelSha256Hex: job.modelSha256Hex,
  };
}

import { outputBytes, sha256, type TensorLike, tensorBytes } from '../../protocol/tensors.js';
import type { ModelOutputs } from '../infer/model-runtime.js';
import type { RunInfo } from './batch-runner.js';

/**
 * Where a pipeline hands the record of each inference job (one model.run call over `rows`
 * windows). The pipeline does not know how receipts are stored or sent; the agent injects a
 * sink when settlement is configured, and without one the pipeline computes nothing for it.
 */
export interface ReceiptJob {
  readonly pipelineId: string;
  /** Ed25519 public key of the node the job ran for (this node, for its own sensors). */
  readonly consumerKey: Uint8Array;
  /** sha256 of the .onnx bytes. */
  readonly modelSha256: Uint8Array;
  /** sha256 of `input` (protocol/tensors.ts). */
  readonly inputDigest: Uint8Array;
  /** sha256 of `output` (protocol/tensors.ts). */
  readonly outputDigest: Uint8Array;
  /** Wall clock when the run started, Unix epoch milliseconds. */
  readonly startTimeMs: number;
  /** How long the run took, microseconds. */
  readonly computeTimeUs: number;
  /** Windows in the run (rows of the input tensor). */
  readonly sampleCount: number;
  /**
   * Work run for another node in an offload session: the receipt's sequence within the session
   * (from 1), as the provider told the consumer in its response. Absent for this node's own
   * pipelines, whose receipts the outbox numbers.
   */
  readonly sequence?: number;
  /**
   * The window tensor's bytes (docs/model-inputs.md §1): a view of the runner's reused buffer,
   * valid only during record(); a sink that keeps them copies them.
   */
  readonly input: Uint8Array;
  /** Every output's bytes in the protocol order (protocol/tensors.ts outputBytes). */
  readonly output: Uint8Array;
}

/** The record of one model call the pipeline ran itself, with the digests the receipt commits to. */
export function receiptJob(
  pipelineId: string,
  consumerKey: Uint8Array,
  modelSha256: Uint8Array,
  rows: number,
  outputs: ModelOutputs,
  run: RunInfo,
): ReceiptJob {
  const input = tensorBytes(run.input);
  // onnxruntime hands back typed arrays; OutputTensor only types them loosely for tests.
  const output = outputBytes(outputs as unknown as Readonly<Record<string, TensorLike>>);
  return {
    pipelineId,
    consumerKey,
    modelSha256,
    inputDigest: sha256(input),
    outputDigest: sha256(output),
    startTimeMs: run.startTimeMs,
    computeTimeUs: run.computeTimeUs,
    sampleCount: rows,
    input,
    output,
  };
}

export interface ReceiptSink {
  /** Called on the inference path: must be synchronous, cheap, and never throw. */
  record(job: ReceiptJob): void;
}

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
   * The input bytes exactly as handed to onnxruntime: a view of the runner's reused buffer,
   * valid only during record(); a sink that keeps them copies them.
   */
  readonly input: Uint8Array;
  /** Every output's bytes in the protocol order (protocol/tensors.ts outputBytes). */
  readonly output: Uint8Array;
}

export interface ReceiptSink {
  /** Called on the inference path: must be synchronous, cheap, and never throw. */
  record(job: ReceiptJob): void;
}

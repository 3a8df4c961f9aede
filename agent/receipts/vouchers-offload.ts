import { sessionIdOfPipelineId } from '../../protocol/offload.js';

/**
 * Receipts of offloaded work. The outbox numbers this node's own receipts with one counter from
 * 0; a receipt of work run for another node in an offload session keeps the session's sequence
 * (from 1) that the provider gave it (ReceiptJob.sequence), because the consumer's voucher states
 * `highestReceiptSequence` in those numbers (docs/protocol.md §14, docs/offload.md §5).
 */

/** True for an offload session pipeline id (`offload/` + 32 lower-case hex digits). */
export function isOffloadPipeline(pipelineId: string): boolean {
  return sessionIdOfPipelineId(pipelineId) !== null;
}

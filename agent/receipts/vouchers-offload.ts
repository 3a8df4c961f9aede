import { sessionIdOfPipelineId } from '../../protocol/offload.js';

/**
 * Receipt sequences of offloaded work. The outbox numbers this node's own receipts with one
 * counter from 0; a receipt of work run for another node in an offload session is numbered per
 * session from 1 instead (docs/protocol.md §14), because the consumer's voucher states
 * `highestReceiptSequence` in those numbers: the provider's n-th model call in the session is
 * receipt n, as the offload response's `receiptSequence` tells the consumer.
 *
 * The counters live in memory, as the provider's served sessions do: a restarted provider never
 * continues an old session, because it answers requests for a session it does not know
 * `unknown_session` unless they may open it (docs/offload.md §5), and the consumer then opens a
 * new session, with a new pipeline id numbered from 1 again.
 */

/** True for an offload session pipeline id (`offload/` + 32 lower-case hex digits). */
export function isOffloadPipeline(pipelineId: string): boolean {
  return sessionIdOfPipelineId(pipelineId) !== null;
}

/** The next receipt sequence of each offload session, from 1. */
export class OffloadSequences {
  private readonly next = new Map<string, number>();
  /** Sessions remembered at most; the oldest is forgotten first (it has ended long ago). */
  constructor(private readonly maxSessions = 10_000) {}

  /** Takes the next sequence of `pipelineId`'s session. */
  take(pipelineId: string): number {
    const sequence = this.next.get(pipelineId) ?? 1;
    this.next.delete(pipelineId);
    if (this.next.size >= this.maxSessions) {
      const oldest = this.next.keys().next().value;
      if (oldest !== undefined) this.next.delete(oldest);
    }
    // Re-inserted, so the Map's order is least recently used first.
    this.next.set(pipelineId, sequence + 1);
    return sequence;
  }
}

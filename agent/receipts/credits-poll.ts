import { fetchNodeCredits, type NodeCredits } from './credits.js';

export interface CreditsPollInit {
  /** Base URL of the settlement service. */
  readonly url: string;
  readonly nodeId: string;
  readonly timeoutMs: number;
}

/**
 * Keeps the service's last answer about this node's credits (totals and recent epochs) for
 * the status. One question at a time: a slow service is not asked again until it answered.
 * Failures are not logged: the send loop already reports an unreachable service, and the
 * last good answer stays until a newer one arrives.
 */
export class CreditsPoll {
  private asking = false;
  private credits: NodeCredits | null = null;

  constructor(
    private readonly init: CreditsPollInit,
    private readonly now: () => number,
  ) {}

  /** Null until the service has answered once. */
  get latest(): NodeCredits | null {
    return this.credits;
  }

  ask(): void {
    if (this.asking) return;
    this.asking = true;
    const { url, nodeId, timeoutMs } = this.init;
    fetchNodeCredits(url, nodeId, timeoutMs, this.now)
      .then((answer) => {
        if (answer.ok) this.credits = answer.credits;
      })
      .finally(() => {
        this.asking = false;
      });
  }
}

import type { OffloadResponse } from '../../protocol/offload.js';
import type { ConsumerSession } from './consumer-sessions.js';
import type { OffloadFailure } from './errors.js';

export type AttemptOutcome =
  | { readonly ok: true; readonly response: OffloadResponse; readonly roundTripUs: number }
  | { readonly ok: false; readonly failure: OffloadFailure };

interface Pending {
  readonly peerId: string;
  readonly session: ConsumerSession;
  readonly sentAt: number;
  readonly timer: NodeJS.Timeout;
  readonly settle: (outcome: AttemptOutcome) => void;
}

/**
 * Requests in flight, by correlation id, with a count per peer. Each settles exactly once: on
 * its response, its timeout, its peer's removal or stop(); whatever comes later finds nothing.
 */
export class PendingRequests {
  private readonly byId = new Map<number, Pending>();
  private readonly perPeer = new Map<string, number>();

  get size(): number {
    return this.byId.size;
  }

  inFlight(peerId: string): number {
    return this.perPeer.get(peerId) ?? 0;
  }

  /** Registers a request; it fails with `timeout` after `timeoutMs`. */
  add(
    correlationId: number,
    peerId: string,
    session: ConsumerSession,
    timeoutMs: number,
  ): Promise<AttemptOutcome> {
    return new Promise<AttemptOutcome>((resolve) => {
      const timer = setTimeout(() => this.fail(correlationId, 'timeout'), timeoutMs);
      this.byId.set(correlationId, { peerId, session, sentAt: performance.now(), timer, settle: resolve });
      this.perPeer.set(peerId, this.inFlight(peerId) + 1);
    });
  }

  /** Settles the request with its response; false when none is waiting (late or unknown). */
  answer(response: OffloadResponse): { session: ConsumerSession; roundTripUs: number } | null {
    const p = this.take(response.correlationId);
    if (p === undefined) return null;
    const roundTripUs = (performance.now() - p.sentAt) * 1000;
    p.settle({ ok: true, response, roundTripUs });
    return { session: p.session, roundTripUs };
  }

  /** Fails the request; false when none is waiting. */
  fail(correlationId: number, failure: OffloadFailure): boolean {
    const p = this.take(correlationId);
    p?.settle({ ok: false, failure });
    return p !== undefined;
  }

  /** Fails every request at `peerId` (or every request, without one); returns how many. */
  failAll(failure: OffloadFailure, peerId?: string): number {
    let n = 0;
    for (const [id, p] of [...this.byId]) {
      if (peerId !== undefined && p.peerId !== peerId) continue;
      this.fail(id, failure);
      n++;
    }
    return n;
  }

  private take(correlationId: number): Pending | undefined {
    const p = this.byId.get(correlationId);
    if (p === undefined) return undefined;
    clearTimeout(p.timer);
    this.byId.delete(correlationId);
    const left = this.inFlight(p.peerId) - 1;
    if (left > 0) this.perPeer.set(p.peerId, left);
    else this.perPeer.delete(p.peerId);
    return p;
  }
}

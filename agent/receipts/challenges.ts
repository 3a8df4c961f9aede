import type { Logger } from 'pino';
import { type Challenge, decodeChallenges, encodeReveal } from '../../protocol/reveal.js';
import type { TensorRetention } from './retention.js';

/**
 * Answers spot-check challenges (docs/protocol.md §11): asks the settlement service which of
 * this provider's receipts were selected, and reveals the retained tensors of each. A receipt
 * whose tensors are gone cannot be revealed and its batch loses its credit, so that is logged
 * once per receipt. Never throws: a failed poll is logged and retried on the next one.
 *
 *   GET  {baseUrl}/v1/challenges/{providerKeyHex}   200 application/cbor challenge list; 404 = none
 *   POST {baseUrl}/v1/reveals                       application/cbor reveal → 200 {"status", "reason"?}
 */
export interface ChallengeResponderInit {
  readonly baseUrl: string;
  readonly providerKeyHex: string;
  readonly requestTimeoutMs: number;
}

export interface ChallengeResponderComponents {
  readonly retention: Pick<TensorRetention, 'get'>;
  readonly logger: Logger;
}

export interface PollResult {
  /** Challenges the service listed. */
  readonly challenged: number;
  /** Reveals the service judged "passed". */
  readonly revealed: number;
  /** Challenges with no retained tensors (evicted or never stored). */
  readonly missing: number;
  /** Bad responses, failed reveals and requests that did not complete. */
  readonly failed: number;
}

export interface ChallengeResponder {
  pollOnce(): Promise<PollResult>;
  stop(): void;
}

// Bounds the memory of "already warned" receipt ids; past it, a receipt may be warned twice.
const MAX_WARNED = 10_000;

type Outcome = 'revealed' | 'missing' | 'failed' | 'unreachable';

export function createChallengeResponder(
  init: ChallengeResponderInit,
  components: ChallengeResponderComponents,
): ChallengeResponder {
  return new HttpChallengeResponder(init, components);
}

class HttpChallengeResponder implements ChallengeResponder {
  private readonly log: Logger;
  private readonly base: string;
  private readonly stopped = new AbortController();
  private readonly warnedMissing = new Set<string>();

  constructor(
    private readonly init: ChallengeResponderInit,
    private readonly components: ChallengeResponderComponents,
  ) {
    this.log = components.logger.child({ component: 'challenge-responder' });
    this.base = init.baseUrl.replace(/\/+$/, '');
  }

  async pollOnce(): Promise<PollResult> {
    const counts = { challenged: 0, revealed: 0, missing: 0, failed: 0 };
    if (this.stopped.signal.aborted) return counts;
    const challenges = await this.fetchChallenges(counts);
    counts.challenged = challenges.length;
    for (const challenge of challenges) {
      const outcome = await this.answer(challenge);
      // The service is unreachable: stop here, the next poll lists the rest again.
      if (outcome === 'unreachable') {
        counts.failed++;
        break;
      }
      counts[outcome]++;
    }
    if (counts.challenged > 0) this.log.info(counts, 'spot-check challenges answered');
    return counts;
  }

  stop(): void {
    this.stopped.abort();
  }

  private signal(): AbortSignal {
    return AbortSignal.any([this.stopped.signal, AbortSignal.timeout(this.init.requestTimeoutMs)]);
  }

  private async fetchChallenges(counts: { failed: number }): Promise<Challenge[]> {
    const url = `${this.base}/v1/challenges/${this.init.providerKeyHex}`;
    let res: Response;
    let body: Uint8Array;
    try {
      res = await fetch(url, { signal: this.signal(), headers: { accept: 'application/cbor' } });
      body = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      this.log.warn({ err, url }, 'cannot fetch spot-check challenges; will retry on the next poll');
      return [];
    }
    if (res.status === 404) return [];
    if (res.status !== 200) {
      counts.failed++;
      this.log.warn({ url, status: res.status }, 'settlement service refused the challenge poll');
      return [];
    }
    try {
      return decodeChallenges(body);
    } catch (err) {
      counts.failed++;
      this.log.warn({ err, url }, 'settlement service sent a challenge list that does not decode');
      return [];
    }
  }

  private async answer(challenge: Challenge): Promise<Outcome> {
    const idHex = Buffer.from(challenge.receiptId).toString('hex');
    let tensors: Awaited<ReturnType<TensorRetention['get']>>;
    try {
      tensors = await this.components.retention.get(challenge.receiptId, challenge.sequence);
    } catch (err) {
      this.log.error({ err, receiptId: idHex }, 'cannot read retained tensors');
      return 'failed';
    }
    if (tensors === undefined) {
      this.warnMissing(idHex, challenge.deadlineMs);
      return 'missing';
    }
    return this.postReveal(idHex, encodeReveal({ receiptId: challenge.receiptId, ...tensors }));
  }

  private warnMissing(idHex: string, deadlineMs: number): void {
    if (this.warnedMissing.has(idHex)) return;
    if (this.warnedMissing.size >= MAX_WARNED) this.warnedMissing.clear();
    this.warnedMissing.add(idHex);
    this.log.warn(
      { receiptId: idHex, deadlineMs },
      'cannot reveal challenged receipt: its tensors are not retained (evicted or never stored): ' +
        'the batch will lose its credit. Raise the tensor retention maxBytes/retentionMs if this repeats',
    );
  }

  private async postReveal(idHex: string, body: Uint8Array): Promise<Outcome> {
    const url = `${this.base}/v1/reveals`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor' },
        body,
        signal: this.signal(),
      });
      text = await res.text();
    } catch (err) {
      this.log.warn({ err, url, receiptId: idHex }, 'cannot post reveal; will retry on the next poll');
      return 'unreachable';
    }
    const verdict = res.status === 200 ? parseVerdict(text) : undefined;
    if (verdict?.status === 'passed') return 'revealed';
    if (verdict?.status === 'failed') {
      this.log.error(
        { receiptId: idHex, reason: verdict.reason },
        'spot check failed: the batch loses its credit',
      );
    } else {
      this.log.warn(
        { url, status: res.status, body: text.slice(0, 200), receiptId: idHex },
        'reveal refused',
      );
    }
    return 'failed';
  }
}

function parseVerdict(text: string): { status: 'passed' | 'failed'; reason?: string } | undefined {
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== 'object' || json === null) return undefined;
    const { status, reason } = json as { status?: unknown; reason?: unknown };
    if (status !== 'passed' && status !== 'failed') return undefined;
    return typeof reason === 'string' ? { status, reason } : { status };
  } catch {
    return undefined;
  }
}

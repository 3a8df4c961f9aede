import type { Logger } from 'pino';
import { type AckEntry, encodeSignedAck, type ReceiptStatus, type SignedAck } from '../../protocol/ack.js';
import {
  type BackoffPolicy,
  backoffPolicyProblem,
  type RandomSource,
  reconnectDelayMs,
} from '../../protocol/backoff.js';
import { type CborValue, decodeCbor } from '../../protocol/cbor.js';
import type { Outbox, OutboxBatch } from './outbox.js';
import {
  SettlementAckRejectedError,
  SettlementRefusedError,
  SettlementSenderConfigError,
  SettlementSenderStoppedError,
  SettlementUnavailableError,
} from './sender-errors.js';

export interface SettlementSenderInit {
  /** Where batches are POSTed, e.g. http://127.0.0.1:8710/v1/batches. */
  readonly url: string;
  /** The settlement service's Ed25519 public key (32 bytes); acks must verify under it. */
  readonly servicePublicKey: Uint8Array;
  /** One request, body included, is abandoned (and retried) after this long. */
  readonly requestTimeoutMs: number;
  /** Delays between retries of the same batch. */
  readonly backoff: BackoffPolicy;
}

export interface SettlementSenderComponents {
  readonly outbox: Outbox;
  readonly logger: Logger;
  /** Default Math.random. */
  readonly random?: RandomSource;
  /** Default a timer; `stop()` cuts a default sleep short. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface DrainResult {
  /** True when a batch was sent and acknowledged. */
  readonly sent: boolean;
  /** Receipts the acknowledgement removed from the outbox. */
  readonly removed: number;
}

export interface SettlementSender {
  /**
   * Sends the outbox's next batch once. Resolves `{ sent: false }` when there is nothing to
   * send. Throws SettlementUnavailableError (transient), SettlementRefusedError,
   * SettlementAckRejectedError or SettlementSenderStoppedError.
   */
  drainOnce(options?: { readonly cutNow?: boolean }): Promise<DrainResult>;
  /**
   * Sends batches until the outbox has nothing to send, retrying transient failures with
   * backoff. Resolves early once stopped; rejects on a refusal or a rejected ack.
   */
  drain(): Promise<void>;
  /** Aborts the request and backoff in progress; the sender stays stopped. */
  stop(): void;
}

const ACK_BODY_FIELDS = 2;
/** Longest refusal body quoted in logs and errors. */
const MAX_QUOTED_BODY = 1_000;
const PUBLIC_KEY_LENGTH = 32;
const UNCREDITED_LOG_INTERVAL_MS = 60_000;

/** The HTTP body of a 200 answer: the CBOR array [ackBytes, signature] (docs/protocol.md §8.2). */
export const encodeAckResponse: (signed: SignedAck) => Uint8Array = encodeSignedAck;

/** Decodes a 200 answer body; throws a plain Error naming what is wrong. */
export function decodeAckResponse(bytes: Uint8Array): SignedAck {
  // Depth 0 is the pair itself; the byte strings inside add no depth.
  const decoded: CborValue = decodeCbor(bytes, { maxDepth: 1 });
  if (!Array.isArray(decoded) || decoded.length !== ACK_BODY_FIELDS) {
    throw new Error('response body must be a CBOR array [ackBytes, signature]');
  }
  const [ackBytes, signature] = decoded as readonly CborValue[];
  if (!(ackBytes instanceof Uint8Array) || !(signature instanceof Uint8Array)) {
    throw new Error('both fields of the response body must be byte strings');
  }
  return { ackBytes, signature };
}

/** Every problem with `init`, each naming its field; empty when usable. */
export function settlementSenderProblems(init: SettlementSenderInit): string[] {
  const problems: string[] = [];
  let protocol: string | undefined;
  try {
    protocol = new URL(init.url).protocol;
  } catch {
    problems.push(`url ${JSON.stringify(init.url)} is not an absolute URL`);
  }
  if (protocol !== undefined && protocol !== 'http:' && protocol !== 'https:') {
    problems.push(`url must use http: or https:, got ${protocol}`);
  }
  if (!(init.servicePublicKey instanceof Uint8Array) || init.servicePublicKey.length !== PUBLIC_KEY_LENGTH) {
    problems.push(`servicePublicKey must be ${PUBLIC_KEY_LENGTH} bytes`);
  }
  if (!(Number.isSafeInteger(init.requestTimeoutMs) && init.requestTimeoutMs > 0)) {
    problems.push(`requestTimeoutMs must be a positive integer, got ${String(init.requestTimeoutMs)}`);
  }
  const backoff = backoffPolicyProblem(init.backoff);
  if (backoff !== null) problems.push(`backoff: ${backoff}`);
  return problems;
}

/** Sends the outbox's batches to the settlement service over HTTP (docs/protocol.md §8). */
export function createSettlementSender(
  init: SettlementSenderInit,
  components: SettlementSenderComponents,
): SettlementSender {
  const problems = settlementSenderProblems(init);
  if (problems.length > 0) throw new SettlementSenderConfigError(problems);
  return new HttpSettlementSender(init, components);
}

type Answer = { readonly status: number; readonly body: Uint8Array };

class HttpSettlementSender implements SettlementSender {
  private readonly log: Logger;
  private readonly random: RandomSource;
  private uncredited: Partial<Record<ReceiptStatus, number>> = {};
  private uncreditedLoggedAt = Number.NEGATIVE_INFINITY;
  private stopped = false;
  // Aborts whatever the sender is waiting on (a request or the default backoff timer).
  private readonly stopController = new AbortController();

  constructor(
    private readonly init: SettlementSenderInit,
    private readonly components: SettlementSenderComponents,
  ) {
    this.log = components.logger.child({ component: 'settlement-sender' });
    this.random = components.random ?? Math.random;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopController.abort();
  }

  async drainOnce(options: { readonly cutNow?: boolean } = {}): Promise<DrainResult> {
    if (this.stopped) throw new SettlementSenderStoppedError(this.init.url);
    const batch = await this.components.outbox.nextBatch(options);
    if (batch === null) return { sent: false, removed: 0 };
    const answer = await this.post(batch);
    if (answer.status !== 200) throw this.failure(batch, answer);
    let signed: SignedAck;
    try {
      signed = decodeAckResponse(answer.body);
    } catch (err) {
      throw this.ackRejected(batch, (err as Error).message, err);
    }
    let acked: { removed: number; statuses: readonly AckEntry[] };
    try {
      acked = await this.components.outbox.acknowledge(signed, this.init.servicePublicKey);
    } catch (err) {
      throw this.ackRejected(batch, (err as Error).message, err);
    }
    this.reportUncredited(batch, acked.statuses);
    return { sent: true, removed: acked.removed };
  }

  /**
   * The ack removes every receipt it answers, credited or not. A receipt refused for good
   * (unknown_model, outside_time_window, equivocation, malformed) earns nothing and is gone
   * from the outbox, so the operator must hear of it; duplicate is a routine re-send.
   */
  private reportUncredited(batch: OutboxBatch, statuses: readonly AckEntry[]): void {
    let any = false;
    for (const { status } of statuses) {
      if (status === 'valid' || status === 'duplicate') continue;
      this.uncredited[status] = (this.uncredited[status] ?? 0) + 1;
      any = true;
    }
    // A misconfigured service refuses every batch alike: one line a minute, with the counts
    // since the last one, says it as clearly as one line per batch.
    const now = performance.now();
    if (!any || now - this.uncreditedLoggedAt < UNCREDITED_LOG_INTERVAL_MS) return;
    this.uncreditedLoggedAt = now;
    this.log.warn(
      { url: this.init.url, batchSequence: batch.batchSequence, refused: this.uncredited },
      'settlement acknowledged receipts without crediting them (unknown_model: register the model with the service; outside_time_window: check the clock)',
    );
    this.uncredited = {};
  }

  async drain(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      let result: DrainResult;
      try {
        result = await this.drainOnce();
      } catch (err) {
        if (this.stopped) return;
        if (!(err instanceof SettlementUnavailableError)) throw err;
        attempt++;
        const delayMs = reconnectDelayMs(attempt, this.init.backoff, this.random);
        this.log.warn({ err, attempt, delayMs }, 'settlement unavailable; retrying the same batch');
        await this.pause(delayMs);
        continue;
      }
      attempt = 0;
      if (!result.sent) return;
    }
  }

  /** POSTs the batch bytes; the timeout covers reading the answer too. */
  private async post(batch: OutboxBatch): Promise<Answer> {
    const { url, requestTimeoutMs } = this.init;
    const request = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      request.abort();
    }, requestTimeoutMs);
    const onStop = (): void => request.abort();
    this.stopController.signal.addEventListener('abort', onStop, { once: true });
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor', accept: 'application/cbor' },
        body: batch.submission,
        signal: request.signal,
      });
      return { status: response.status, body: new Uint8Array(await response.arrayBuffer()) };
    } catch (err) {
      if (this.stopped) throw new SettlementSenderStoppedError(url);
      const detail = timedOut
        ? `no answer within ${requestTimeoutMs} ms`
        : `network error: ${(err as Error).message}`;
      throw new SettlementUnavailableError(url, undefined, detail, { cause: err });
    } finally {
      clearTimeout(timer);
      this.stopController.signal.removeEventListener('abort', onStop);
    }
  }

  private failure(batch: OutboxBatch, answer: Answer): Error {
    const { url } = this.init;
    const text = new TextDecoder().decode(answer.body).slice(0, MAX_QUOTED_BODY);
    if (answer.status === 429 || answer.status >= 500) {
      return new SettlementUnavailableError(url, answer.status, `HTTP ${answer.status}`);
    }
    const err = new SettlementRefusedError(url, answer.status, batch.batchSequence, text);
    this.log.error(
      { url, status: answer.status, batchSequence: batch.batchSequence, responseBody: text },
      'settlement service refused the batch',
    );
    return err;
  }

  private ackRejected(batch: OutboxBatch, detail: string, cause: unknown): SettlementAckRejectedError {
    const err = new SettlementAckRejectedError(this.init.url, batch.batchSequence, detail, { cause });
    this.log.error({ err, batchSequence: batch.batchSequence }, 'acknowledgement rejected');
    return err;
  }

  private async pause(ms: number): Promise<void> {
    if (this.components.sleep !== undefined) {
      await this.components.sleep(ms);
      return;
    }
    const signal = this.stopController.signal;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

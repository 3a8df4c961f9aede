import { FieldmeshError } from '../../protocol/errors.js';

/** The sender settings are unusable; lists every problem. */
export class SettlementSenderConfigError extends FieldmeshError {
  constructor(problems: readonly string[]) {
    super('SETTLEMENT_SENDER_CONFIG_INVALID', `settlement sender settings rejected: ${problems.join('; ')}`);
  }
}

/**
 * The settlement service could not be reached or asked us to come back later (network error,
 * timeout, 5xx, 429). Transient: `drain()` retries the same batch bytes after a backoff.
 */
export class SettlementUnavailableError extends FieldmeshError {
  readonly url: string;
  /** HTTP status when the service answered; undefined for network errors and timeouts. */
  readonly status: number | undefined;

  constructor(url: string, status: number | undefined, detail: string, options?: { cause?: unknown }) {
    super(
      'SETTLEMENT_UNAVAILABLE',
      `settlement service at ${url} unavailable (${detail}); the batch stays in the outbox and is re-sent`,
      options,
    );
    this.url = url;
    this.status = status;
  }
}

/**
 * The settlement service refused the batch with a 4xx other than 429. Permanent: re-sending
 * the same bytes would be refused again, so the batch stays in flight untouched and an
 * operator has to look at the service's reason.
 */
export class SettlementRefusedError extends FieldmeshError {
  readonly url: string;
  readonly status: number;
  readonly responseBody: string;

  constructor(url: string, status: number, batchSequence: number, responseBody: string) {
    super(
      'SETTLEMENT_REFUSED',
      `settlement service at ${url} refused batch ${batchSequence} with HTTP ${status}: ${responseBody || '(empty body)'}; ` +
        'the batch was kept in the outbox and will not be retried automatically. Check the node registration ' +
        'and the service logs',
    );
    this.url = url;
    this.status = status;
    this.responseBody = responseBody;
  }
}

/**
 * The service answered 200 but the acknowledgement was unusable (not a [ackBytes, signature]
 * pair, a bad signature, or an ack for another batch). Nothing was removed from the outbox.
 */
export class SettlementAckRejectedError extends FieldmeshError {
  readonly url: string;

  constructor(url: string, batchSequence: number, detail: string, options?: { cause?: unknown }) {
    super(
      'SETTLEMENT_ACK_REJECTED',
      `acknowledgement from ${url} for batch ${batchSequence} rejected, nothing removed: ${detail}; ` +
        'check the configured settlement service public key',
      options,
    );
    this.url = url;
  }
}

/** The sender was stopped while a request was in flight; the batch stays in the outbox. */
export class SettlementSenderStoppedError extends FieldmeshError {
  constructor(url: string) {
    super(
      'SETTLEMENT_SENDER_STOPPED',
      `settlement sender for ${url} stopped; the in-flight batch stays queued`,
    );
  }
}

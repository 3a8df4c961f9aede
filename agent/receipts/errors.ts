import { FieldmeshError } from '../../protocol/errors.js';

/** Appending would take the outbox past its disk budget; the receipt was not stored. */
export class OutboxFullError extends FieldmeshError {
  readonly bytesUsed: number;
  readonly maxDiskBytes: number;

  constructor(bytesUsed: number, needed: number, maxDiskBytes: number) {
    super(
      'OUTBOX_FULL',
      `receipt outbox is full: ${bytesUsed} of ${maxDiskBytes} bytes used, this receipt needs ${needed} more; ` +
        'the receipt was refused. Check that the settlement service is reachable so acknowledged batches free ' +
        'space, or raise the outbox disk budget (settlement.outbox.maxBytes in the config, maxDiskBytes here)',
    );
    this.bytesUsed = bytesUsed;
    this.maxDiskBytes = maxDiskBytes;
  }
}

/**
 * An acknowledgement the outbox will not act on; nothing was removed.
 * Codes: `OUTBOX_ACK_INVALID` — bad signature or body; `OUTBOX_ACK_MISMATCH` — a valid ack,
 * but for another batch (header hash, provider or receipt list differ);
 * `OUTBOX_NO_BATCH_IN_FLIGHT` — there is no batch waiting for an ack.
 */
export type OutboxAckErrorCode = 'OUTBOX_ACK_INVALID' | 'OUTBOX_ACK_MISMATCH' | 'OUTBOX_NO_BATCH_IN_FLIGHT';

export class OutboxAckError extends FieldmeshError {
  constructor(code: OutboxAckErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The outbox was used while not started (or after stop). */
export class OutboxNotStartedError extends FieldmeshError {
  constructor(operation: string) {
    super('OUTBOX_NOT_STARTED', `receipt outbox: ${operation}() called before start() or after stop()`);
  }
}

/** The outbox settings are unusable; lists every problem. */
export class OutboxConfigError extends FieldmeshError {
  constructor(problems: readonly string[]) {
    super('OUTBOX_CONFIG_INVALID', `receipt outbox settings rejected: ${problems.join('; ')}`);
  }
}

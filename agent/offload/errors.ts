import { FieldmeshError } from '../../protocol/errors.js';

/** Why one attempt at a peer did not produce a result. */
export type OffloadFailure =
  | 'timeout'
  | 'overloaded'
  | 'no_such_model'
  | 'bad_request'
  | 'inference_failed'
  | 'expired'
  | 'unknown_session'
  | 'peer_removed'
  | 'publish_failed'
  | 'bad_response'
  | 'stopped';

/**
 * No peer could run the windows: none has the model and free capacity, or every attempt failed.
 * The caller runs them locally (or drops them when it has no model); `attempts` says what happened.
 */
export class OffloadUnavailableError extends FieldmeshError {
  readonly attempts: readonly { readonly peerId: string; readonly failure: OffloadFailure }[];

  constructor(
    modelSha256: string,
    attempts: readonly { readonly peerId: string; readonly failure: OffloadFailure }[],
    why: string,
  ) {
    const tried = attempts.map((a) => `${a.peerId}: ${a.failure}`).join(', ');
    super(
      'OFFLOAD_UNAVAILABLE',
      `offload of model ${modelSha256.slice(0, 12)}…: ${why}${tried ? ` (tried ${tried})` : ''}; run the windows locally`,
    );
    this.attempts = attempts;
  }
}

/** run() was called with arguments that cannot form a request; a bug in the caller. */
export class OffloadInputError extends FieldmeshError {
  constructor(why: string) {
    super('OFFLOAD_INPUT_INVALID', `offload run(): ${why}`);
  }
}

/** A setting the provider or client cannot work with. */
export class OffloadConfigError extends FieldmeshError {
  constructor(field: string, why: string) {
    super('OFFLOAD_CONFIG_INVALID', `offload ${field} ${why}`);
  }
}

import { createHash, randomBytes } from 'node:crypto';
import { FieldmeshError } from '../../protocol/errors.js';

/**
 * Which receipts an epoch spot-checks (docs/protocol.md §11.1). The seed is drawn after the
 * receipts are committed, so a provider cannot know which jobs will be checked when it
 * reports them; the service publishes the seed after the epoch closes, so anyone can redo
 * the selection.
 *
 *   h = SHA-256("fieldmesh/spotcheck/v1" ‖ 0x00 ‖ seed ‖ receiptId)
 *   u = first 8 bytes of h, big-endian unsigned
 *   selected ⇔ u < floor(fractionPpm × 2^64 / 1 000 000)
 */
export const SPOTCHECK_DOMAIN = 'fieldmesh/spotcheck/v1';
export const SEED_LENGTH = 32;
export const PPM = 1_000_000;
const ID_LENGTH = 32;
const DOMAIN_PREFIX = Buffer.concat([Buffer.from(SPOTCHECK_DOMAIN, 'utf8'), Buffer.of(0)]);

/** A selection asked with arguments outside the rule (programming error, not a data error). */
export class SpotCheckArgumentError extends FieldmeshError {
  constructor(message: string) {
    super('SPOTCHECK_ARGUMENT_INVALID', `spot-check selection: ${message}`);
  }
}

/** The 64-bit threshold for a fraction in parts per million; 1 000 000 gives 2^64 (all). */
export function selectionThreshold(fractionPpm: number): bigint {
  if (!Number.isInteger(fractionPpm) || fractionPpm < 0 || fractionPpm > PPM) {
    throw new SpotCheckArgumentError(`fractionPpm must be an integer in [0, ${PPM}], got ${fractionPpm}`);
  }
  return (BigInt(fractionPpm) << 64n) / BigInt(PPM);
}

export function spotCheckSelects(seed: Uint8Array, receiptId: Uint8Array, fractionPpm: number): boolean {
  // Fixed lengths keep seed ‖ receiptId unambiguous.
  if (seed.length !== SEED_LENGTH) {
    throw new SpotCheckArgumentError(`seed must be ${SEED_LENGTH} bytes, got ${seed.length}`);
  }
  if (receiptId.length !== ID_LENGTH) {
    throw new SpotCheckArgumentError(`receiptId must be ${ID_LENGTH} bytes, got ${receiptId.length}`);
  }
  const threshold = selectionThreshold(fractionPpm);
  const h = createHash('sha256').update(DOMAIN_PREFIX).update(seed).update(receiptId).digest();
  return h.readBigUInt64BE(0) < threshold;
}

/** A fresh epoch seed: 32 bytes from the OS CSPRNG. */
export function newSeed(): Uint8Array {
  return new Uint8Array(randomBytes(SEED_LENGTH));
}

import { signBatch } from '../../protocol/batch.js';
import { identityFromSeed, type NodeIdentity } from '../../protocol/identity.js';
import { encodeReceipt, type Receipt, receiptId } from '../../protocol/receipt.js';
import { encodeSubmission } from '../../protocol/submission.js';

/** A fixed test identity: the Ed25519 key from a seed of 32 bytes all equal to `n`. */
export function testIdentity(n: number): NodeIdentity {
  return identityFromSeed(new Uint8Array(32).fill(n));
}

/**
 * The encoded body of a plausible receipt: `sequence` varies the input digest, so every
 * sequence gives a distinct receipt id; anything else can be overridden.
 */
export function receiptBody(
  parties: { provider: NodeIdentity; consumer: NodeIdentity },
  sequence: number,
  over: Partial<Receipt> = {},
): Uint8Array {
  return encodeReceipt({
    version: 1,
    providerKey: parties.provider.publicKey,
    consumerKey: parties.consumer.publicKey,
    pipelineId: 'vibration',
    sequence,
    modelSha256: new Uint8Array(32).fill(5),
    inputDigest: new Uint8Array(32).fill(sequence % 256),
    outputDigest: new Uint8Array(32).fill(7),
    startTimeMs: 1_700_000_000_000 + sequence,
    computeTimeUs: 1_500,
    sampleCount: 1,
    ...over,
  });
}

/** A signed submission of `bodies` by `provider`, as an agent sends it. */
export function submissionOf(
  provider: NodeIdentity,
  bodies: readonly Uint8Array[],
  batchSequence = 0,
): Uint8Array {
  const { headerBytes, signature } = signBatch(bodies.map(receiptId), {
    secretKey: provider.secretKey,
    batchSequence,
    createdAtMs: 1_700_000_000_000,
  });
  return encodeSubmission({ headerBytes, signature, receiptBodies: bodies });
}

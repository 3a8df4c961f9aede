import { randomBytes } from 'node:crypto';
import type { NodeIdentity } from '../../protocol/identity.js';
import { SESSION_ID_LENGTH, type SignedVoucher, signVoucher } from '../../protocol/voucher.js';

/** The consumer's running totals for one provider: what its next voucher states. */
export interface ConsumerSession {
  readonly providerId: string;
  readonly providerKey: Uint8Array;
  readonly sessionId: Uint8Array;
  /** An ok response came back: the provider has opened the session, requests stop `opening` it. */
  opened: boolean;
  voucherSequence: number;
  jobs: number;
  computeUs: number;
  highestReceiptSequence: number;
  /** Ok responses not yet covered by a voucher. */
  unvouched: number;
  lastVoucherAtMs: number;
}

/**
 * One session per provider, opened on first use with a random 16-byte id, and the cumulative
 * vouchers over it. Totals only grow, so each voucher supersedes the ones before it. A session
 * given up (the provider no longer knows it) is retired: no new request uses it, but its work not
 * yet vouched for still gets its voucher.
 */
export class ConsumerSessions {
  private readonly byProvider = new Map<string, ConsumerSession>();
  /** Retired sessions with ok responses not yet covered by a voucher. */
  private readonly retired = new Set<ConsumerSession>();

  constructor(
    private readonly identity: NodeIdentity,
    private readonly random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n)),
  ) {}

  open(providerId: string, providerKey: Uint8Array, nowMs: number): ConsumerSession {
    let session = this.byProvider.get(providerId);
    if (session === undefined) {
      session = {
        providerId,
        providerKey,
        sessionId: this.random(SESSION_ID_LENGTH),
        opened: false,
        voucherSequence: 0,
        jobs: 0,
        computeUs: 0,
        highestReceiptSequence: 0,
        unvouched: 0,
        lastVoucherAtMs: nowMs,
      };
      this.byProvider.set(providerId, session);
    }
    return session;
  }

  /**
   * Stops using `session` for new requests: the next open() for its provider starts a fresh
   * session. False when it was already retired (another request got there first).
   */
  retire(session: ConsumerSession): boolean {
    if (this.byProvider.get(session.providerId) !== session) return false;
    this.byProvider.delete(session.providerId);
    if (session.unvouched > 0) this.retired.add(session);
    return true;
  }

  /** Every session that may still need a voucher: the open ones and the retired ones with work. */
  all(): ConsumerSession[] {
    return [...this.byProvider.values(), ...this.retired];
  }

  /**
   * Credits one ok response. The provider's computeUs is capped at the round trip this node
   * observed: a provider cannot have computed longer than the request was away.
   */
  credit(session: ConsumerSession, computeUs: number, roundTripUs: number, receiptSequence: number): void {
    session.opened = true;
    // A response can come back for a session retired while the request was away.
    if (this.byProvider.get(session.providerId) !== session) this.retired.add(session);
    session.jobs++;
    session.computeUs += Math.min(computeUs, Math.max(0, Math.round(roundTripUs)));
    session.highestReceiptSequence = Math.max(session.highestReceiptSequence, receiptSequence);
    session.unvouched++;
  }

  /** Signs the session's next cumulative voucher; null when nothing happened since the last. */
  sign(session: ConsumerSession, nowMs: number): SignedVoucher | null {
    if (session.unvouched === 0) return null;
    session.voucherSequence++;
    session.unvouched = 0;
    session.lastVoucherAtMs = nowMs;
    this.retired.delete(session);
    return signVoucher(
      {
        consumerKey: this.identity.publicKey,
        providerKey: session.providerKey,
        sessionId: session.sessionId,
        sequence: session.voucherSequence,
        jobs: session.jobs,
        computeUs: session.computeUs,
        highestReceiptSequence: session.highestReceiptSequence,
        issuedAtMs: nowMs,
      },
      this.identity.secretKey,
    );
  }
}

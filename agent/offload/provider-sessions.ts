/** A consumer's session with this provider, as far as the provider has served it. */
export interface ServedSession {
  readonly sessionId: Uint8Array;
  readonly consumer: string;
  readonly consumerKey: Uint8Array;
  /** Receipts recorded in the session; the n-th has session receipt sequence n. */
  receipts: number;
  jobs: number;
}

/**
 * The sessions this provider served, by hex session id, least recently used first. Bounded: a
 * consumer that opens sessions without end only pushes out the oldest (whose requests are then
 * answered, and vouchers refused, as `unknown_session`).
 */
export class ServedSessions {
  private readonly byId = new Map<string, ServedSession>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.byId.size;
  }

  get(sessionId: Uint8Array): ServedSession | undefined {
    return this.byId.get(Buffer.from(sessionId).toString('hex'));
  }

  /**
   * The session for a request. A session this provider does not know is opened only when the
   * request may open it (`opening`, docs/offload.md §5); otherwise `unknown`, since it was opened
   * by an earlier run of this process (or forgotten) and numbering its receipts from 1 again would
   * repeat receipt sequences. `taken` when the id already belongs to another consumer (a reply
   * would otherwise let one consumer's vouchers cover another's work).
   */
  touch(
    sessionId: Uint8Array,
    consumer: string,
    consumerKey: Uint8Array,
    opening: boolean,
  ): ServedSession | 'unknown' | 'taken' {
    const key = Buffer.from(sessionId).toString('hex');
    const existing = this.byId.get(key);
    if (existing !== undefined) {
      if (existing.consumer !== consumer) return 'taken';
      this.byId.delete(key);
      this.byId.set(key, existing);
      return existing;
    }
    if (!opening) return 'unknown';
    const session: ServedSession = { sessionId, consumer, consumerKey, receipts: 0, jobs: 0 };
    this.byId.set(key, session);
    if (this.byId.size > this.max) {
      const oldest = this.byId.keys().next().value;
      if (oldest !== undefined) this.byId.delete(oldest);
    }
    return session;
  }
}

import { compileTopicFilter, type TopicMatcher } from '../ingest/topic-filter.js';

export type MessageHandler = (topic: string, payload: Uint8Array) => void;

export interface Subscription {
  readonly filter: string;
  readonly qos: 0 | 1;
  readonly handler: MessageHandler;
  readonly matches: TopicMatcher;
  /** True once the broker granted it on the current session; false until then. */
  granted: boolean;
}

/**
 * The link's own record of what it subscribed to, by filter. It outlives broker sessions: the
 * link re-subscribes from it whenever a broker comes back without the session, and dispatches
 * every incoming message to the handlers whose filter matches the topic.
 */
export class SubscriptionTable {
  private readonly byFilter = new Map<string, Subscription>();
  /** A flat copy for the per-message loop, rebuilt on the rare add or remove. */
  private list: Subscription[] = [];

  /** Adds or replaces the subscription for `filter`; throws TopicFilterError for an invalid filter. */
  set(filter: string, qos: 0 | 1, handler: MessageHandler): Subscription {
    const subscription: Subscription = {
      filter,
      qos,
      handler,
      matches: compileTopicFilter(filter),
      granted: false,
    };
    this.byFilter.set(filter, subscription);
    this.list = [...this.byFilter.values()];
    return subscription;
  }

  delete(filter: string): boolean {
    const existed = this.byFilter.delete(filter);
    if (existed) this.list = [...this.byFilter.values()];
    return existed;
  }

  get(filter: string): Subscription | undefined {
    return this.byFilter.get(filter);
  }

  all(): readonly Subscription[] {
    return this.list;
  }

  /** The broker forgot the session: every subscription must be asked for again. */
  revokeAll(): void {
    for (const s of this.list) s.granted = false;
  }

  /**
   * Calls each handler whose filter matches `topic` (a broker may deliver a message once even
   * when several filters match, so every matching handler gets it). A handler that throws is
   * reported to `onError` and does not stop the others. Returns how many handlers ran.
   */
  dispatch(topic: string, payload: Uint8Array, onError: (err: unknown, filter: string) => void): number {
    let ran = 0;
    for (const s of this.list) {
      if (!s.matches(topic)) continue;
      ran++;
      try {
        s.handler(topic, payload);
      } catch (err) {
        onError(err, s.filter);
      }
    }
    return ran;
  }
}

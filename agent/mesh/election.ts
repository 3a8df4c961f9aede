/**
 * Which broker a site uses when its agents run `broker: auto` (docs/mesh.md "Site broker").
 * Pure: every agent that sees the same verified peers reaches the same answer.
 *
 *   1. A broker that is already hosted wins over starting one: clients stay where they are when
 *      a better-ranked node joins later. When two are hosted (two agents elected themselves
 *      before they saw each other, or a partition healed) all converge on the better-ranked host.
 *   2. With none hosted, the best-ranked eligible node (priority > 0) hosts it.
 *
 * Rank: higher priority first, then the lower node id (plain string order of the PeerId).
 */
export interface BrokerCandidate {
  readonly peerId: string;
  /** 0 = never hosts. */
  readonly priority: number;
  /** The broker it hosts now, or null. */
  readonly brokerUrl: string | null;
}

export type BrokerChoice =
  /** Use the broker `host` hosts at `url` (this node's own when host is this node). */
  | { readonly kind: 'use'; readonly host: string; readonly url: string }
  /** This node should start the broker. */
  | { readonly kind: 'host' }
  /** `host` was elected but has not announced its broker yet. */
  | { readonly kind: 'wait'; readonly host: string }
  /** No node may host one (every priority is 0). */
  | { readonly kind: 'none' };

export function ranksBefore(a: BrokerCandidate, b: BrokerCandidate): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  return a.peerId < b.peerId;
}

function best(list: readonly BrokerCandidate[]): BrokerCandidate | undefined {
  let top: BrokerCandidate | undefined;
  for (const c of list) if (top === undefined || ranksBefore(c, top)) top = c;
  return top;
}

/**
 * The choice of node `self` among `peers` (verified, current). Peers in `excluded` were elected
 * but never announced a broker; they are passed over until they do.
 */
export function chooseBroker(
  self: BrokerCandidate,
  peers: readonly BrokerCandidate[],
  excluded: ReadonlySet<string> = new Set(),
): BrokerChoice {
  const everyone = [self, ...peers.filter((p) => p.peerId !== self.peerId)];
  const host = best(everyone.filter((c) => c.brokerUrl !== null));
  if (host?.brokerUrl) return { kind: 'use', host: host.peerId, url: host.brokerUrl };
  const elected = best(everyone.filter((c) => c.priority > 0 && !excluded.has(c.peerId)));
  if (elected === undefined) return { kind: 'none' };
  return elected.peerId === self.peerId ? { kind: 'host' } : { kind: 'wait', host: elected.peerId };
}

import type { MeshPeer } from '../mesh/peer.js';

export interface PeerChoiceInput {
  /** sha256 of the model, lower-case hex. */
  readonly modelSha256: string;
  /** This node's PeerId: never a candidate. */
  readonly self: string;
  /** Peers already tried for this request. */
  readonly exclude: ReadonlySet<string>;
  /** Requests this node has in flight at each peer. */
  readonly inFlight: (peerId: string) => number;
  readonly maxInFlightPerPeer: number;
}

/** A peer that could take a request, with what the choice was based on. */
export interface PeerCandidate {
  readonly peer: MeshPeer;
  /** Requests it can still take from this node: min(its slots, our bound) − our in-flight. */
  readonly freeSlots: number;
  /** Its load in permille plus our own requests in flight there, as a share of its slots. */
  readonly load: number;
  /** Its mean compute per window for the model, µs; 0 = unknown. */
  readonly computeUs: number;
}

/**
 * The peers that have the model and free capacity, best first: least loaded, then fastest
 * (an unknown speed sorts after every known one), then by PeerId so the order is stable. Pure.
 */
export function rankPeers(peers: readonly MeshPeer[], input: PeerChoiceInput): PeerCandidate[] {
  const out: PeerCandidate[] = [];
  for (const peer of peers) {
    if (peer.peerId === input.self || input.exclude.has(peer.peerId)) continue;
    const model = peer.models.find((m) => m.sha256.toLowerCase() === input.modelSha256);
    if (model === undefined || peer.offloadSlots <= 0) continue;
    const ours = input.inFlight(peer.peerId);
    const freeSlots = Math.min(peer.offloadSlots, input.maxInFlightPerPeer) - ours;
    if (freeSlots <= 0) continue;
    const load = peer.loadPermille + Math.round((1000 * ours) / peer.offloadSlots);
    out.push({ peer, freeSlots, load, computeUs: model.computeUs });
  }
  return out.sort(
    (a, b) =>
      a.load - b.load ||
      speedKey(a.computeUs) - speedKey(b.computeUs) ||
      (a.peer.peerId < b.peer.peerId ? -1 : a.peer.peerId > b.peer.peerId ? 1 : 0),
  );
}

function speedKey(computeUs: number): number {
  return computeUs > 0 ? computeUs : Number.MAX_SAFE_INTEGER;
}

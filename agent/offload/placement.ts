/**
 * Where a pipeline runs a window: on this node or on a peer. Pure; the pipeline asks per window
 * (or per batch) with what it knows now, and the answer says whether a local run remains the
 * fallback when no peer takes the work.
 */
export type Placement = 'local' | 'peer' | 'auto';

export interface PlacementBounds {
  /** `auto` offloads when more windows than this wait for the local model. */
  readonly maxQueueDepth: number;
  /** `auto` offloads when the local load (permille of capacity) is above this. */
  readonly maxLoadPermille: number;
}

export interface PlacementInput {
  readonly placement: Placement;
  readonly localHasModel: boolean;
  readonly localQueueDepth: number;
  readonly localLoadPermille: number;
  /** Mean local compute per window, µs; 0 = unknown. */
  readonly localComputeUs: number;
  /** The best peer for the model (peer-choice.ts), or null when none has it with a free slot. */
  readonly bestPeer: { readonly computeUs: number; readonly freeSlots: number } | null;
}

export type PlacementReason =
  | 'placement_local'
  | 'placement_peer'
  | 'no_local_model'
  | 'queue_over_bound'
  | 'load_over_bound'
  | 'peer_faster'
  | 'local_ok'
  | 'no_peer';

export type PlacementDecision =
  | { readonly where: 'local'; readonly reason: PlacementReason }
  | { readonly where: 'peer'; readonly fallbackLocal: boolean; readonly reason: PlacementReason };

/**
 * `local` never offloads. `peer` tries peers first and falls back to the local model when this
 * node has it. `auto` offloads when this node lacks the model, when its queue or load is past a
 * bound (and some peer has a free slot), or when a peer with a free slot is clearly faster:
 * its computeUs × 1.5 < the local computeUs, both known.
 */
export function decidePlacement(input: PlacementInput, bounds: PlacementBounds): PlacementDecision {
  const fallbackLocal = input.localHasModel;
  if (input.placement === 'local') return { where: 'local', reason: 'placement_local' };
  if (input.placement === 'peer') return { where: 'peer', fallbackLocal, reason: 'placement_peer' };
  if (!input.localHasModel) return { where: 'peer', fallbackLocal: false, reason: 'no_local_model' };
  const peer = input.bestPeer;
  const peerFree = peer !== null && peer.freeSlots > 0;
  if (input.localQueueDepth > bounds.maxQueueDepth) {
    return peerFree
      ? { where: 'peer', fallbackLocal, reason: 'queue_over_bound' }
      : { where: 'local', reason: 'no_peer' };
  }
  if (input.localLoadPermille > bounds.maxLoadPermille) {
    return peerFree
      ? { where: 'peer', fallbackLocal, reason: 'load_over_bound' }
      : { where: 'local', reason: 'no_peer' };
  }
  // Integers only: peer × 1.5 < local ⇔ peer × 3 < local × 2.
  if (
    peerFree &&
    peer.computeUs > 0 &&
    input.localComputeUs > 0 &&
    peer.computeUs * 3 < input.localComputeUs * 2
  ) {
    return { where: 'peer', fallbackLocal, reason: 'peer_faster' };
  }
  return { where: 'local', reason: 'local_ok' };
}

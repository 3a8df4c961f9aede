import { describe, expect, it } from 'vitest';
import type { MeshPeer } from '../../../agent/mesh/peer.js';
import { rankPeers } from '../../../agent/offload/peer-choice.js';
import { decidePlacement, type PlacementInput } from '../../../agent/offload/placement.js';

const bounds = { maxQueueDepth: 8, maxLoadPermille: 800 };
const calm: PlacementInput = {
  placement: 'auto',
  localHasModel: true,
  localQueueDepth: 0,
  localLoadPermille: 100,
  localComputeUs: 100,
  bestPeer: { computeUs: 90, freeSlots: 2 },
};

describe('decidePlacement', () => {
  it('never offloads with placement local, even without the model', () => {
    expect(decidePlacement({ ...calm, placement: 'local', localHasModel: false }, bounds)).toEqual({
      where: 'local',
      reason: 'placement_local',
    });
  });

  it('tries peers first with placement peer, falling back to local only when it has the model', () => {
    expect(decidePlacement({ ...calm, placement: 'peer' }, bounds)).toEqual({
      where: 'peer',
      fallbackLocal: true,
      reason: 'placement_peer',
    });
    expect(decidePlacement({ ...calm, placement: 'peer', localHasModel: false }, bounds)).toMatchObject({
      where: 'peer',
      fallbackLocal: false,
    });
  });

  it('auto: offloads without a local model', () => {
    expect(decidePlacement({ ...calm, localHasModel: false, bestPeer: null }, bounds)).toEqual({
      where: 'peer',
      fallbackLocal: false,
      reason: 'no_local_model',
    });
  });

  it('auto: offloads past the queue or load bound when a peer has a free slot', () => {
    expect(decidePlacement({ ...calm, localQueueDepth: 9 }, bounds)).toMatchObject({
      where: 'peer',
      fallbackLocal: true,
      reason: 'queue_over_bound',
    });
    expect(decidePlacement({ ...calm, localQueueDepth: 8 }, bounds).where).toBe('local');
    expect(decidePlacement({ ...calm, localLoadPermille: 801 }, bounds)).toMatchObject({
      reason: 'load_over_bound',
    });
    expect(decidePlacement({ ...calm, localLoadPermille: 800 }, bounds).where).toBe('local');
    const full = { computeUs: 10, freeSlots: 0 };
    expect(decidePlacement({ ...calm, localQueueDepth: 99, bestPeer: full }, bounds)).toEqual({
      where: 'local',
      reason: 'no_peer',
    });
    expect(decidePlacement({ ...calm, localLoadPermille: 2000, bestPeer: null }, bounds).where).toBe('local');
  });

  it('auto: offloads to a clearly faster peer (computeUs × 1.5 < local), not a slightly faster one', () => {
    const faster = (peerUs: number, localUs: number, freeSlots = 1) =>
      decidePlacement(
        { ...calm, localComputeUs: localUs, bestPeer: { computeUs: peerUs, freeSlots } },
        bounds,
      );
    expect(faster(60, 100)).toMatchObject({ where: 'peer', reason: 'peer_faster' });
    expect(faster(67, 100).where).toBe('local'); // 100.5 is not < 100
    expect(faster(66, 100).where).toBe('peer');
    expect(faster(60, 100, 0).where).toBe('local');
    expect(faster(0, 100).where).toBe('local'); // unknown peer speed
    expect(faster(60, 0).where).toBe('local'); // unknown local speed
    expect(decidePlacement(calm, bounds)).toEqual({ where: 'local', reason: 'local_ok' });
  });
});

function peer(id: string, opts: Partial<MeshPeer> & { modelUs?: number; sha?: string } = {}): MeshPeer {
  return {
    peerId: id,
    publicKey: new Uint8Array(32),
    name: id,
    version: '1',
    apiUrl: 'http://x',
    brokerUrl: null,
    brokerPriority: 0,
    models: [{ id: 'm', version: '1', sha256: opts.sha ?? 'aa', computeUs: opts.modelUs ?? 50 }],
    offloadSlots: 4,
    loadPermille: 0,
    issuedAtMs: 0,
    verifiedAtMs: 0,
    ...opts,
  };
}

describe('rankPeers', () => {
  const base = {
    modelSha256: 'aa',
    self: 'me',
    exclude: new Set<string>(),
    inFlight: () => 0,
    maxInFlightPerPeer: 2,
  };

  it('keeps peers with the model and a free slot, least loaded first, then fastest', () => {
    const ranked = rankPeers(
      [
        peer('slow', { modelUs: 90 }),
        peer('busy', { loadPermille: 500, modelUs: 10 }),
        peer('fast', { modelUs: 40 }),
        peer('unknown', { modelUs: 0 }),
        peer('other-model', { sha: 'bb' }),
        peer('no-slots', { offloadSlots: 0 }),
        peer('me'),
      ],
      base,
    );
    expect(ranked.map((c) => c.peer.peerId)).toEqual(['fast', 'slow', 'unknown', 'busy']);
  });

  it('counts this node’s own requests in flight, and drops excluded or full peers', () => {
    const inFlight = (id: string) => (id === 'a' ? 1 : id === 'b' ? 2 : 0);
    const ranked = rankPeers([peer('a'), peer('b'), peer('c'), peer('d')], {
      ...base,
      inFlight,
      exclude: new Set(['d']),
    });
    expect(ranked.map((c) => [c.peer.peerId, c.freeSlots, c.load])).toEqual([
      ['c', 2, 0],
      ['a', 1, 250],
    ]);
  });
});

import { NodeRecordError, type NodeRecordReason } from '../../protocol/node-record.js';
import type { MeshPeer } from './peer.js';
import { fetchRecordBytes, peerFromRecord, RecordFetchError } from './record-fetch.js';

/** Why an announced peer was not accepted: its record failed, or it is not a trusted node. */
export type RejectReason = NodeRecordReason | 'untrusted';

export type CheckOutcome =
  | { readonly kind: 'verified'; readonly peer: MeshPeer }
  | { readonly kind: 'unreachable'; readonly message: string }
  | {
      readonly kind: 'rejected';
      readonly reason: RejectReason;
      readonly code: string;
      readonly message: string;
    };

export interface CheckSettings {
  readonly trustedNodes: 'any' | readonly string[];
  readonly fetchTimeoutMs: number;
  readonly maxSkewMs: number;
}

/** The trust rule (docs/mesh.md): a verified record, and the PeerId on the trusted list. */
export function isTrusted(trustedNodes: 'any' | readonly string[], peerId: string): boolean {
  return trustedNodes === 'any' || trustedNodes.includes(peerId);
}

/**
 * Fetches `<url>/v1/node` and checks it against the PeerId announced for it. Resolves with
 * the outcome; rejects only on a bug.
 */
export async function checkPeer(
  peerId: string,
  url: string,
  settings: CheckSettings,
  selfPeerId: string,
): Promise<CheckOutcome> {
  if (peerId === selfPeerId) {
    return {
      kind: 'rejected',
      reason: 'spoofed',
      code: 'NODE_RECORD_KEY_MISMATCH',
      message: `another host at ${url} announces this node's own PeerId`,
    };
  }
  let bytes: Uint8Array;
  try {
    bytes = await fetchRecordBytes(url, settings.fetchTimeoutMs);
  } catch (err) {
    if (err instanceof RecordFetchError) return { kind: 'unreachable', message: err.message };
    throw err;
  }
  let peer: MeshPeer;
  try {
    peer = peerFromRecord(bytes, { peerId, nowMs: Date.now(), maxSkewMs: settings.maxSkewMs });
  } catch (err) {
    if (err instanceof NodeRecordError) {
      return { kind: 'rejected', reason: err.reason, code: err.code, message: err.message };
    }
    throw err;
  }
  if (!isTrusted(settings.trustedNodes, peerId)) {
    return {
      kind: 'rejected',
      reason: 'untrusted',
      code: 'MESH_PEER_UNTRUSTED',
      message: `node ${peerId} (${peer.name}) is not in trustedNodes; add its PeerId there to use it`,
    };
  }
  return { kind: 'verified', peer };
}

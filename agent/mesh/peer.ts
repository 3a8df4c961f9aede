/**
 * What the mesh knows about one verified peer, and the directory the rest of the agent asks.
 * Everything in a MeshPeer comes from a node record whose signature checked out against the
 * peer's PeerId (protocol/node-record.ts); nothing learned from mDNS alone is ever here.
 */

/** One model a peer runs, by digest. */
export interface PeerModel {
  readonly id: string;
  readonly version: string;
  /** sha256 of the .onnx bytes, lower-case hex. */
  readonly sha256: string;
  /** Mean microseconds of one model call of one window on that peer; 0 while unknown. */
  readonly computeUs: number;
}

export interface MeshPeer {
  readonly peerId: string;
  readonly publicKey: Uint8Array;
  readonly name: string;
  readonly version: string;
  /** Base URL of the peer's mesh API (`http://10.0.0.2:8721`). */
  readonly apiUrl: string;
  /** MQTT URL of the broker the peer hosts, or null. */
  readonly brokerUrl: string | null;
  /** 0: never hosts the site broker; higher wins the election (designated nodes use a high one). */
  readonly brokerPriority: number;
  readonly models: readonly PeerModel[];
  /** Windows the peer will run at once for others; 0 = takes no offloaded work. */
  readonly offloadSlots: number;
  /** Current load in permille of its inference capacity (may exceed 1000 when queued). */
  readonly loadPermille: number;
  /** issuedAtMs of the record, on the peer's clock. */
  readonly issuedAtMs: number;
  /** When this node last verified a fresh record from the peer, on this node's clock. */
  readonly verifiedAtMs: number;
}

export type PeerEvent = 'added' | 'updated' | 'removed';

/** The verified peers of this node; the discovery part keeps it current. */
export interface PeerDirectory {
  peers(): readonly MeshPeer[];
  get(peerId: string): MeshPeer | undefined;
  on(event: PeerEvent, listener: (peer: MeshPeer) => void): void;
  off(event: PeerEvent, listener: (peer: MeshPeer) => void): void;
  /**
   * Asks the peer for a fresh record now (say, after its broker connection dropped); resolves
   * true when it answered and verified, false when it was dropped as unreachable.
   */
  probe(peerId: string): Promise<boolean>;
}

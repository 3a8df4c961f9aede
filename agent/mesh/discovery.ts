import type { NodeIdentity } from '../../protocol/identity.js';
import { encodeSignedNodeRecord, type NodeRecordFields, signNodeRecord } from '../../protocol/node-record.js';
import type { Logger } from '../log.js';
import { type CheckOutcome, checkPeer, type RejectReason } from './check-peer.js';
import { LogThrottle } from './log-throttle.js';
import { createMeshMdns, type MdnsAnnouncement, type MeshMdns, type MeshMdnsInit } from './mdns.js';
import type { MeshPeer, PeerDirectory, PeerEvent } from './peer.js';
import { peerChanged } from './record-fetch.js';

/**
 * Discovery: mDNS tells us who claims to be on the LAN; a peer enters the directory only when
 * the node record served at its announced mesh API verifies under the key in its announced
 * PeerId, and only while such a record keeps verifying.
 *
 * Timing (docs/mesh.md "Timings"): every `refreshMs` each peer's record is fetched again; a
 * peer whose last verified record is `peerTimeoutMs` old is removed at the next refresh whose
 * fetch fails. A peer that dies is therefore gone at most
 * `peerTimeoutMs + refreshMs + fetchTimeoutMs` after its last verified record (so after it
 * died), 22 s with the defaults.
 */
export const DISCOVERY_DEFAULTS = {
  refreshMs: 5000,
  peerTimeoutMs: 15_000,
  fetchTimeoutMs: 2000,
  maxSkewMs: 60_000,
  retryMs: 2000,
  recordCacheMs: 1000,
} as const;

export interface DiscoveryInit {
  readonly mdns: Omit<MeshMdnsInit, 'peerId'>;
  /** 'any': every node whose record verifies; else only these PeerIds. */
  readonly trustedNodes: 'any' | readonly string[];
  readonly refreshMs?: number;
  readonly peerTimeoutMs?: number;
  readonly fetchTimeoutMs?: number;
  /** Largest accepted difference between a record's issuedAtMs and this node's clock. */
  readonly maxSkewMs?: number;
  /** Least time between two attempts on a PeerId that is not (yet) a verified peer. */
  readonly retryMs?: number;
  /** How long this node's own signed record is served before it is signed again. */
  readonly recordCacheMs?: number;
}

/** What this node says about itself; discovery adds its key and the time and signs it. */
export type LocalRecord = Omit<NodeRecordFields, 'publicKey' | 'issuedAtMs'>;

export interface DiscoveryComponents {
  readonly identity: NodeIdentity;
  readonly logger: Logger;
  record(): LocalRecord;
  /** For tests: an mDNS part to use instead of the one built from `init.mdns`. */
  readonly mdns?: MeshMdns;
}

export interface DiscoveryStats {
  readonly peers: number;
  readonly recordsVerified: number;
  readonly recordsRejected: Readonly<Record<RejectReason, number>>;
  readonly probesFailed: number;
}

export interface Discovery extends PeerDirectory {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): DiscoveryStats;
  /** This node's signed record in wire form, re-signed at most every `recordCacheMs`. */
  signedRecord(): Uint8Array;
}

type Listener = (peer: MeshPeer) => void;
const LOG_WINDOW_MS = 60_000;

class MeshDiscovery implements Discovery {
  private readonly settings: Required<Omit<DiscoveryInit, 'mdns'>>;
  private readonly mdns: MeshMdns;
  private readonly log: Logger;
  private readonly table = new Map<string, MeshPeer>();
  /** Where each peer's record was fetched from: its announced URL, not its record's apiUrl. */
  private readonly fetchUrl = new Map<string, string>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly lastAttempt = new Map<string, number>();
  private readonly listeners = new Map<PeerEvent, Set<Listener>>();
  private readonly throttle = new LogThrottle(LOG_WINDOW_MS);
  private readonly counts = {
    verified: 0,
    probesFailed: 0,
    rejected: { invalid: 0, bad_signature: 0, spoofed: 0, stale: 0, future: 0, untrusted: 0 },
  };
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private cached: { bytes: Uint8Array; atMs: number } | undefined;

  constructor(
    init: DiscoveryInit,
    private readonly components: DiscoveryComponents,
  ) {
    const { mdns, ...rest } = init;
    this.settings = { ...DISCOVERY_DEFAULTS, ...rest };
    this.log = components.logger;
    this.mdns =
      components.mdns ??
      createMeshMdns(
        { ...mdns, peerId: components.identity.peerId },
        { logger: components.logger.child({ component: 'mdns' }) },
      );
    this.onAnnouncement = this.onAnnouncement.bind(this);
  }

  async start(): Promise<void> {
    this.mdns.on('peer', this.onAnnouncement);
    await this.mdns.start();
    this.timer = setInterval(() => void this.refreshAll(), this.settings.refreshMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.mdns.off('peer', this.onAnnouncement);
    await this.mdns.stop();
    await Promise.allSettled(this.inflight.values());
  }

  peers(): readonly MeshPeer[] {
    return [...this.table.values()];
  }

  get(peerId: string): MeshPeer | undefined {
    return this.table.get(peerId);
  }

  on(event: PeerEvent, listener: Listener): void {
    const set = this.listeners.get(event) ?? new Set<Listener>();
    set.add(listener);
    this.listeners.set(event, set);
  }

  off(event: PeerEvent, listener: Listener): void {
    this.listeners.get(event)?.delete(listener);
  }

  async probe(peerId: string): Promise<boolean> {
    const url = this.fetchUrl.get(peerId);
    if (url === undefined) return false;
    if (await this.check(peerId, url)) return true;
    this.remove(peerId, 'probe failed');
    return false;
  }

  stats(): DiscoveryStats {
    return {
      peers: this.table.size,
      recordsVerified: this.counts.verified,
      recordsRejected: { ...this.counts.rejected },
      probesFailed: this.counts.probesFailed,
    };
  }

  signedRecord(): Uint8Array {
    const now = Date.now();
    if (this.cached && now - this.cached.atMs < this.settings.recordCacheMs) return this.cached.bytes;
    const { identity } = this.components;
    const fields: NodeRecordFields = {
      ...this.components.record(),
      publicKey: identity.publicKey,
      issuedAtMs: now,
    };
    const bytes = encodeSignedNodeRecord(signNodeRecord(fields, identity.secretKey));
    this.cached = { bytes, atMs: now };
    return bytes;
  }

  /** mDNS handler: never throws. Known, fresh peers at the same URL are not fetched again. */
  private onAnnouncement(ann: MdnsAnnouncement): void {
    try {
      const now = Date.now();
      const known = this.table.get(ann.peerId);
      if (known !== undefined) {
        const sameUrl = this.fetchUrl.get(ann.peerId) === ann.apiUrl;
        if (sameUrl && now - known.verifiedAtMs < this.settings.refreshMs) return;
      } else {
        const last = this.lastAttempt.get(ann.peerId);
        if (last !== undefined && now - last < this.settings.retryMs) return;
        if (this.lastAttempt.size >= 4096) this.lastAttempt.clear();
        this.lastAttempt.set(ann.peerId, now);
      }
      void this.check(ann.peerId, ann.apiUrl);
    } catch (err) {
      this.log.error({ err, peerId: ann.peerId }, 'mDNS announcement handling failed');
    }
  }

  /** Fetches and verifies a record; resolves true when the peer is (still) verified. Never rejects. */
  private check(peerId: string, url: string): Promise<boolean> {
    const running = this.inflight.get(peerId);
    if (running) return running;
    const done = checkPeer(peerId, url, this.settings, this.components.identity.peerId)
      .then((outcome) => this.apply(peerId, url, outcome))
      .catch((err: unknown) => {
        this.log.error({ err, peerId }, 'peer check failed unexpectedly');
        return false;
      })
      .finally(() => this.inflight.delete(peerId));
    this.inflight.set(peerId, done);
    return done;
  }

  private apply(peerId: string, url: string, outcome: CheckOutcome): boolean {
    const now = Date.now();
    if (outcome.kind === 'unreachable') {
      this.counts.probesFailed++;
      this.note(`${peerId}:unreachable`, 'debug', { peerId, url, err: outcome.message }, 'peer unreachable');
      return false;
    }
    if (outcome.kind === 'rejected') {
      this.counts.rejected[outcome.reason]++;
      const fields = { peerId, url, reason: outcome.reason, code: outcome.code, err: outcome.message };
      this.note(`${peerId}:${outcome.reason}`, 'warn', fields, 'node record rejected; peer ignored');
      return false;
    }
    const peer = outcome.peer;
    if (peer.apiUrl !== url) {
      const fields = { peerId, fetchedFrom: url, recordApiUrl: peer.apiUrl };
      this.note(`${peerId}:url`, 'info', fields, 'peer record names another apiUrl than where it answered');
    }
    this.counts.verified++;
    this.lastAttempt.delete(peerId);
    const before = this.table.get(peerId);
    const verified = { ...peer, verifiedAtMs: now };
    this.table.set(peerId, verified);
    this.fetchUrl.set(peerId, url);
    if (before === undefined) {
      this.log.info({ peerId, name: peer.name, apiUrl: peer.apiUrl }, 'peer verified and added');
      this.emit('added', verified);
    } else if (peerChanged(before, verified)) {
      this.emit('updated', verified);
    }
    return true;
  }

  private async refreshAll(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await Promise.allSettled([...this.fetchUrl.entries()].map(([peerId, url]) => this.check(peerId, url)));
      const now = Date.now();
      for (const peer of [...this.table.values()]) {
        if (now - peer.verifiedAtMs >= this.settings.peerTimeoutMs) {
          this.remove(peer.peerId, `no verified record for ${now - peer.verifiedAtMs} ms`);
        }
      }
    } catch (err) {
      this.log.error({ err }, 'peer refresh failed');
    } finally {
      this.ticking = false;
    }
  }

  private remove(peerId: string, why: string): void {
    const peer = this.table.get(peerId);
    if (peer === undefined) return;
    this.table.delete(peerId);
    this.fetchUrl.delete(peerId);
    this.log.info({ peerId, name: peer.name, why }, 'peer removed');
    this.emit('removed', peer);
  }

  private emit(event: PeerEvent, peer: MeshPeer): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        listener(peer);
      } catch (err) {
        this.log.error({ err, event, peerId: peer.peerId }, 'peer listener threw');
      }
    }
  }

  private note(key: string, level: 'debug' | 'info' | 'warn', fields: object, msg: string): void {
    const suppressed = this.throttle.admit(key, Date.now());
    if (suppressed !== null) this.log[level]({ ...fields, suppressed }, msg);
  }
}

/** Builds discovery; see the class comment above for what it trusts and when. */
export function createDiscovery(init: DiscoveryInit, components: DiscoveryComponents): Discovery {
  return new MeshDiscovery(init, components);
}

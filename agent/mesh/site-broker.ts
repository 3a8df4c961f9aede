import { EventEmitter } from 'node:events';
import { FieldmeshError } from '../../protocol/errors.js';
import type { Logger } from '../log.js';
import { type BrokerCandidate, type BrokerChoice, chooseBroker } from './election.js';
import type { MeshPeer, PeerDirectory } from './peer.js';

export interface SiteBrokerInit {
  readonly selfId: string;
  /** This node's election rank; 0 = never hosts. */
  readonly priority: number;
  /** How long to listen for peers before electing, at start. */
  readonly electionWaitMs: number;
  /** How often the choice is looked at again while waiting; default 200 ms. */
  readonly tickMs?: number;
}

export interface SiteBrokerComponents {
  readonly directory: PeerDirectory;
  /** Starts the embedded broker; resolves with the URL peers reach it at. */
  startBroker(): Promise<string>;
  stopBroker(): Promise<void>;
  readonly logger: Logger;
  readonly now?: () => number;
}

export class NoSiteBrokerError extends FieldmeshError {
  constructor(why: string) {
    super('MESH_NO_BROKER', `broker: auto found no site broker: ${why}`);
  }
}

/**
 * Keeps an agent with `broker: auto` on the site's one broker: at start it listens for peers
 * for electionWaitMs, then uses the broker a peer hosts or — when elected — starts its own.
 * Afterwards it follows the mesh: when the host is lost, the next node in rank hosts and the
 * others move to it (emitting 'changed' with the new URL, for the MQTT link to follow).
 */
export class SiteBroker extends EventEmitter<{ changed: [url: string] }> {
  private url: string | null = null;
  private ownUrl: string | null = null;
  private readonly excluded = new Set<string>();
  /** When we began waiting for an elected peer to announce, per peer. */
  private readonly waitingSince = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private busy = false;
  private stopped = false;
  private settled: ((url: string) => void) | null = null;
  private readonly onPeers = (): void => void this.evaluate();

  constructor(
    private readonly init: SiteBrokerInit,
    private readonly components: SiteBrokerComponents,
  ) {
    super();
  }

  /** The URL in use, or null before the first choice. */
  get current(): string | null {
    return this.url;
  }

  /** The URL this node hosts the site broker at, or null. */
  get hosting(): string | null {
    return this.ownUrl;
  }

  /** Resolves with the first broker URL (never rejects; waits as long as it takes). */
  start(): Promise<string> {
    this.startedAt = this.now();
    const d = this.components.directory;
    for (const e of ['added', 'updated', 'removed'] as const) d.on(e, this.onPeers);
    this.timer = setInterval(() => void this.evaluate(), this.init.tickMs ?? 200);
    this.timer.unref();
    const first = new Promise<string>((resolve) => {
      this.settled = resolve;
    });
    void this.evaluate();
    return first;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const d = this.components.directory;
    for (const e of ['added', 'updated', 'removed'] as const) d.off(e, this.onPeers);
    if (this.ownUrl !== null) await this.components.stopBroker();
    this.ownUrl = null;
  }

  /** The MQTT link lost its broker: ask the host whether it is still there. */
  lost(): void {
    const host = this.hostOf(this.url);
    if (host !== null) void this.components.directory.probe(host).then(() => this.evaluate());
  }

  private hostOf(url: string | null): string | null {
    if (url === null || url === this.ownUrl) return null;
    return this.components.directory.peers().find((p) => p.brokerUrl === url)?.peerId ?? null;
  }

  private candidates(): { self: BrokerCandidate; peers: BrokerCandidate[] } {
    const peer = (p: MeshPeer): BrokerCandidate => ({
      peerId: p.peerId,
      priority: p.brokerPriority,
      brokerUrl: p.brokerUrl,
    });
    return {
      self: { peerId: this.init.selfId, priority: this.init.priority, brokerUrl: this.ownUrl },
      peers: this.components.directory.peers().map(peer),
    };
  }

  private async evaluate(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      const { self, peers } = this.candidates();
      await this.act(chooseBroker(self, peers, this.excluded));
    } catch (err) {
      this.components.logger.error({ err: (err as Error).message }, 'site broker choice failed; retrying');
    } finally {
      this.busy = false;
    }
  }

  private async act(choice: BrokerChoice): Promise<void> {
    const listening = this.now() - this.startedAt < this.init.electionWaitMs && this.url === null;
    if (choice.kind === 'use') {
      this.waitingSince.clear();
      this.use(choice.url, choice.host);
      // Clients move first, then ours stops.
      if (choice.host !== this.init.selfId) await this.demote();
    } else if (choice.kind === 'host') {
      if (listening) return; // give peers the chance to answer first
      const url = await this.components.startBroker();
      this.ownUrl = url;
      this.components.logger.info({ url }, 'elected: hosting the site broker');
      this.use(url, this.init.selfId);
    } else if (choice.kind === 'wait') {
      if (listening) return;
      this.waitFor(choice.host);
    } else if (!listening && this.url === null) {
      this.components.logger.warn(
        {},
        'broker: auto: no node may host the site broker (every broker.priority is 0); waiting for one that does',
      );
    }
  }

  /** An elected peer gets electionWaitMs to announce its broker; then it is passed over. */
  private waitFor(host: string): void {
    const since = this.waitingSince.get(host);
    if (since === undefined) {
      this.waitingSince.set(host, this.now());
      void this.components.directory.probe(host);
      return;
    }
    if (this.now() - since > Math.max(this.init.electionWaitMs, 1_000)) {
      this.components.logger.warn(
        { peer: host },
        'elected peer did not start the site broker; passing it over',
      );
      this.excluded.add(host);
    } else {
      void this.components.directory.probe(host);
    }
  }

  private use(url: string, host: string): void {
    if (url === this.url) return;
    const first = this.url === null;
    this.url = url;
    this.excluded.clear();
    this.components.logger.info({ url, host }, first ? 'site broker chosen' : 'site broker moved');
    if (this.settled) {
      this.settled(url);
      this.settled = null;
    } else {
      this.emit('changed', url);
    }
  }

  /** Another node hosts the better-ranked broker: clients move there, ours stops. */
  private async demote(): Promise<void> {
    if (this.ownUrl === null) return;
    this.components.logger.warn({}, 'another node hosts the site broker; stopping ours');
    this.ownUrl = null;
    await this.components.stopBroker();
  }

  private now(): number {
    return (this.components.now ?? Date.now)();
  }
}

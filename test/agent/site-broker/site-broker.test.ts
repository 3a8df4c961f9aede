import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshPeer, PeerDirectory, PeerEvent } from '../../../agent/mesh/peer.js';
import { SiteBroker } from '../../../agent/mesh/site-broker.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { quietLogger, startTestBroker } from '../../helpers/broker.js';
import { withTimeout } from '../../helpers/wait-for.js';

/** A directory the test fills by hand: the election logic, not discovery, is under test here. */
class HandDirectory implements PeerDirectory {
  private readonly events = new EventEmitter();
  private readonly map = new Map<string, MeshPeer>();
  probes: string[] = [];
  peers(): readonly MeshPeer[] {
    return [...this.map.values()];
  }
  get(peerId: string): MeshPeer | undefined {
    return this.map.get(peerId);
  }
  on(event: PeerEvent, listener: (peer: MeshPeer) => void): void {
    this.events.on(event, listener);
  }
  off(event: PeerEvent, listener: (peer: MeshPeer) => void): void {
    this.events.off(event, listener);
  }
  async probe(peerId: string): Promise<boolean> {
    this.probes.push(peerId);
    return this.map.has(peerId);
  }
  put(peerId: string, brokerUrl: string | null, brokerPriority = 1): void {
    const peer: MeshPeer = {
      peerId,
      publicKey: new Uint8Array(32),
      name: peerId,
      version: '0.1.0',
      apiUrl: 'http://127.0.0.1:1',
      brokerUrl,
      brokerPriority,
      models: [],
      offloadSlots: 1,
      loadPermille: 0,
      issuedAtMs: Date.now(),
      verifiedAtMs: Date.now(),
    };
    const had = this.map.has(peerId);
    this.map.set(peerId, peer);
    this.events.emit(had ? 'updated' : 'added', peer);
  }
  remove(peerId: string): void {
    const peer = this.map.get(peerId);
    this.map.delete(peerId);
    if (peer) this.events.emit('removed', peer);
  }
}

describe('site broker (broker: auto)', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  function site(selfId: string, directory: HandDirectory, priority = 1, electionWaitMs = 150) {
    let broker: EmbeddedBroker | null = null;
    const sb = new SiteBroker(
      { selfId, priority, electionWaitMs, tickMs: 20 },
      {
        directory,
        logger: quietLogger,
        startBroker: async () => {
          broker = await startTestBroker();
          return broker.url;
        },
        stopBroker: async () => {
          await broker?.stop();
          broker = null;
        },
      },
    );
    cleanup.push(() => sb.stop());
    return { sb, running: () => broker !== null };
  }

  it('uses the broker a peer announces, without starting its own', async () => {
    const dir = new HandDirectory();
    dir.put('A', 'mqtt://10.9.0.1:1883');
    const { sb, running } = site('B', dir);
    expect(await withTimeout(sb.start(), 'choice')).toBe('mqtt://10.9.0.1:1883');
    expect(running()).toBe(false);
    expect(sb.hosting).toBeNull();
  });

  it('hosts when elected after listening for electionWaitMs, and not before', async () => {
    const dir = new HandDirectory();
    dir.put('B', null);
    const started = Date.now();
    const { sb, running } = site('A', dir);
    const url = await withTimeout(sb.start(), 'election');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(running()).toBe(true);
    expect(sb.hosting).toBe(url);
  });

  it('waits for the elected peer, then passes it over when it never announces', async () => {
    const dir = new HandDirectory();
    dir.put('A', null); // ranks first but never starts a broker
    const { sb, running } = site('B', dir, 1, 100);
    const url = await withTimeout(sb.start(), 'election after passing A over', 5000);
    expect(dir.probes).toContain('A');
    expect(running()).toBe(true);
    expect(url).toBe(sb.hosting);
  });

  it('fails over: when the host is lost, the next in rank hosts and says where', async () => {
    const dir = new HandDirectory();
    dir.put('A', 'mqtt://10.9.0.1:1883');
    dir.put('C', null);
    const { sb, running } = site('B', dir);
    await sb.start();
    const moved = new Promise<string>((resolve) => sb.once('changed', resolve));
    dir.remove('A');
    const url = await withTimeout(moved, 'failover');
    expect(running()).toBe(true);
    expect(url).toBe(sb.hosting);
  });

  it('a host that sees a better-ranked host moves its clients there and stops its own', async () => {
    const dir = new HandDirectory();
    const { sb, running } = site('B', dir, 1, 50);
    await sb.start();
    expect(running()).toBe(true);
    const moved = new Promise<string>((resolve) => sb.once('changed', resolve));
    dir.put('A', 'mqtt://10.9.0.1:1883'); // a partition healed: A hosts too, and ranks first
    expect(await withTimeout(moved, 'convergence')).toBe('mqtt://10.9.0.1:1883');
    await expect.poll(() => running()).toBe(false);
    expect(sb.hosting).toBeNull();
  });
});

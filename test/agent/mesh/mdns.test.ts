import { randomInt } from 'node:crypto';
import { mdns } from '@libp2p/mdns';
import { multiaddr } from '@multiformats/multiaddr';
import { afterEach, describe, expect, it } from 'vitest';
import {
  apiUrlOf,
  checkLibraryInternals,
  createMeshMdns,
  type MdnsAnnouncement,
  type MeshMdns,
} from '../../../agent/mesh/mdns.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import { waitForEvent } from '../../helpers/wait-for.js';
import { quietLogger } from './mesh-node.js';

// Real multicast on lo, on a port and service tag of this file's own.
const port = randomInt(40_000, 60_000);
const serviceTag = `_fm${process.pid}._udp.local`;
const started: MeshMdns[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((m) => m.stop()));
});

function node(seed: number, apiPort: number): { peerId: string; mdns: MeshMdns } {
  const { peerId } = identityFromSeed(new Uint8Array(32).fill(seed));
  const m = createMeshMdns(
    { peerId, apiPort, interface: '127.0.0.1', port, serviceTag, queryIntervalMs: 300 },
    { logger: quietLogger },
  );
  started.push(m);
  return { peerId, mdns: m };
}

describe('mesh mDNS on one interface', () => {
  it('two nodes on lo find each other and the mesh API URL each announces', async () => {
    const a = node(1, 1111);
    const b = node(2, 2222);
    const aSees = waitForEvent<[MdnsAnnouncement]>(a.mdns, 'peer');
    const bSees = waitForEvent<[MdnsAnnouncement]>(b.mdns, 'peer');
    await a.mdns.start();
    await b.mdns.start();
    expect((await aSees)[0]).toEqual({ peerId: b.peerId, apiUrl: 'http://127.0.0.1:2222' });
    expect((await bSees)[0]).toEqual({ peerId: a.peerId, apiUrl: 'http://127.0.0.1:1111' });
  });

  it('stop() (the library own) closes the socket it did not create, and start() works again', async () => {
    const a = node(3, 3333);
    const b = node(4, 4444);
    await a.mdns.start();
    await a.mdns.stop();
    await a.mdns.start();
    const seen = waitForEvent<[MdnsAnnouncement]>(b.mdns, 'peer');
    await b.mdns.start();
    expect((await seen)[0].peerId).toBe(a.peerId);
  });

  it('relies on @libp2p/mdns internals that still exist (fails when the library changes them)', () => {
    const instance = mdns({})({
      addressManager: { getAddresses: () => [] },
      logger: { forComponent: () => Object.assign(() => {}, { trace() {}, error() {} }) },
    } as never);
    expect(() => checkLibraryInternals(instance as object)).not.toThrow();
    expect(() => checkLibraryInternals({})).toThrow(/MDNS|no longer has/);
  });

  it('reads only /ip4/…/tcp/…/http multiaddrs as mesh API URLs', () => {
    expect(apiUrlOf(multiaddr('/ip4/10.0.0.2/tcp/8721/http'))).toBe('http://10.0.0.2:8721');
    expect(apiUrlOf(multiaddr('/ip4/10.0.0.2/tcp/4001'))).toBeNull();
    expect(apiUrlOf(multiaddr('/ip4/10.0.0.2/tcp/8721/http/ws'))).toBeNull();
    expect(apiUrlOf(multiaddr('/ip6/::1/tcp/8721/http'))).toBeNull();
  });
});

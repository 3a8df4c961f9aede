import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshPeer } from '../../../agent/mesh/peer.js';
import { decodeSignedNodeRecord, verifyNodeRecord } from '../../../protocol/node-record.js';
import { waitForEvent, withTimeout } from '../../helpers/wait-for.js';
import { startTestNode, type TestNode } from './mesh-node.js';

const nodes: TestNode[] = [];
const servers: Server[] = [];

async function node(seed: number, init: Parameters<typeof startTestNode>[1] = {}): Promise<TestNode> {
  const n = await startTestNode(seed, init);
  nodes.push(n);
  return n;
}

/** A plain HTTP server that answers /v1/node with whatever `body` returns. */
async function rawServer(body: () => Uint8Array | string, status = 200): Promise<string> {
  const server = createServer((_req, res) => res.writeHead(status).end(body()));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

function added(n: TestNode, peerId: string): Promise<[MeshPeer]> {
  return waitForEvent<[MeshPeer]>(n.discovery, 'added', { filter: (p) => p.peerId === peerId });
}

/** Waits until `n` has counted one more rejection for `reason`. */
async function rejection(n: TestNode, reason: string, before = 0): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((n.discovery.stats().recordsRejected as Record<string, number>)[reason] === before) {
    if (Date.now() > deadline)
      throw new Error(`no '${reason}' rejection: ${JSON.stringify(n.discovery.stats())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('mesh discovery', () => {
  it('adds an announced peer once its signed record verifies, with the record fields', async () => {
    const a = await node(1);
    const b = await node(2);
    const seen = added(a, b.identity.peerId);
    a.mdns.announce({ peerId: b.identity.peerId, apiUrl: b.api.url });
    const [peer] = await seen;
    expect(peer).toMatchObject({ name: 'node-2', apiUrl: b.api.url, brokerUrl: null, brokerPriority: 2 });
    expect(peer.publicKey).toEqual(b.identity.publicKey);
    expect(a.discovery.get(b.identity.peerId)?.name).toBe('node-2');
    expect(a.discovery.peers()).toHaveLength(1);
    expect(a.discovery.stats()).toMatchObject({ peers: 1, recordsVerified: 1, probesFailed: 0 });
  });

  it('serves its own record signed fresh by its key', async () => {
    const a = await node(1);
    const response = await fetch(`${a.api.url}/v1/node`);
    expect(response.headers.get('content-type')).toBe('application/cbor');
    const signed = decodeSignedNodeRecord(new Uint8Array(await response.arrayBuffer()));
    const fields = verifyNodeRecord(signed, {
      peerId: a.identity.peerId,
      nowMs: Date.now(),
      maxSkewMs: 5000,
    });
    expect(fields.name).toBe('node-1');
  });

  it('ignores an announcement whose record is signed by another key (spoofing), and counts it', async () => {
    const a = await node(1);
    const victim = await node(2);
    const spoofer = await node(3);
    a.mdns.announce({ peerId: victim.identity.peerId, apiUrl: spoofer.api.url });
    await rejection(a, 'spoofed');
    expect(a.discovery.get(victim.identity.peerId)).toBeUndefined();
    expect(a.discovery.stats().recordsVerified).toBe(0);
  });

  it('refuses records that do not decode, and peers that do not answer', async () => {
    const a = await node(1, { retryMs: 0 });
    const b = await node(2);
    a.mdns.announce({ peerId: b.identity.peerId, apiUrl: await rawServer(() => 'not cbor') });
    await rejection(a, 'invalid');
    a.mdns.announce({ peerId: b.identity.peerId, apiUrl: await rawServer(() => '', 500) });
    const deadline = Date.now() + 5000;
    while (a.discovery.stats().probesFailed === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(a.discovery.stats().probesFailed).toBe(1);
    expect(a.discovery.peers()).toHaveLength(0);
  });

  it('refuses a verified node that is not in trustedNodes', async () => {
    const b = await node(2);
    const a = await node(1, { trustedNodes: ['12D3KooWSomeoneElse'] });
    a.mdns.announce({ peerId: b.identity.peerId, apiUrl: b.api.url });
    await rejection(a, 'untrusted');
    expect(a.discovery.peers()).toHaveLength(0);
  });

  it('removes a peer whose records stop verifying, within peerTimeoutMs + refreshMs + fetchTimeoutMs', async () => {
    const timing = { refreshMs: 200, peerTimeoutMs: 600, fetchTimeoutMs: 500 };
    const a = await node(1, timing);
    const b = await node(2);
    const seen = added(a, b.identity.peerId);
    a.mdns.announce({ peerId: b.identity.peerId, apiUrl: b.api.url });
    await seen;
    const removed = waitForEvent<[MeshPeer]>(a.discovery, 'removed', {
      timeoutMs: timing.peerTimeoutMs + timing.refreshMs + timing.fetchTimeoutMs + 1000,
    });
    await b.stop();
    const [gone] = await removed;
    expect(gone.peerId).toBe(b.identity.peerId);
    expect(a.discovery.get(b.identity.peerId)).toBeUndefined();
    nodes.splice(nodes.indexOf(b), 1);
  });

  it('keeps a live peer across refreshes and answers probe() true; false once it is gone', async () => {
    const a = await node(1, { refreshMs: 100, peerTimeoutMs: 400 });
    const b = await node(2);
    const seen = added(a, b.identity.peerId);
    a.mdns.announce({ peerId: b.identity.peerId, apiUrl: b.api.url });
    await seen;
    const first = a.discovery.get(b.identity.peerId)?.verifiedAtMs ?? 0;
    const deadline = Date.now() + 5000;
    while ((a.discovery.get(b.identity.peerId)?.verifiedAtMs ?? 0) <= first + 500 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(a.discovery.get(b.identity.peerId)?.verifiedAtMs).toBeGreaterThan(first + 500);
    expect(await a.discovery.probe(b.identity.peerId)).toBe(true);
    await b.stop();
    nodes.splice(nodes.indexOf(b), 1);
    const removed = waitForEvent(a.discovery, 'removed');
    expect(await a.discovery.probe(b.identity.peerId)).toBe(false);
    await removed;
    expect(await a.discovery.probe('12D3KooWNeverSeen')).toBe(false);
  });

  it('survives a listener that throws', async () => {
    const a = await node(1);
    const b = await node(2);
    a.discovery.on('added', () => {
      throw new Error('listener bug');
    });
    const seen = added(a, b.identity.peerId);
    a.mdns.announce({ peerId: b.identity.peerId, apiUrl: b.api.url });
    await withTimeout(seen, 'the second listener to be called');
    expect(a.discovery.peers()).toHaveLength(1);
  });
});

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLan, type NetnsHost, type NetnsLan, netnsUnavailable } from '../../helpers/netns.js';
import { withTimeout } from '../../helpers/wait-for.js';

/**
 * Three hosts on a LAN of network namespaces, each running `fieldmesh mesh peers --json`, plus
 * a spoofer announcing a PeerId whose key it does not have. Real multicast, real processes.
 */
const BIN = path.resolve('bin/fieldmesh.js');
const SPOOFER = path.resolve('test/fixtures/mesh-spoofer.mjs');
const REFRESH_MS = 500;
const PEER_TIMEOUT_MS = 2000;
const FETCH_TIMEOUT_MS = 2000; // discovery's default
// docs/mesh.md: a dead peer is gone at most peerTimeout + refresh + fetchTimeout after it died.
const DETECTION_BOUND_MS = PEER_TIMEOUT_MS + REFRESH_MS + FETCH_TIMEOUT_MS;
const unavailable = netnsUnavailable();

interface Line {
  event: string;
  peerId?: string;
  announcedPeerId?: string;
  reason?: string;
  msg?: string;
}

/** Collects a child's JSON lines (stdout and stderr) and lets a test wait for one. */
class Watched {
  readonly lines: Line[] = [];
  private waiters: { test: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.on('data', (chunk: Buffer) => {
        const parts = (rest + chunk.toString()).split('\n');
        rest = parts.pop() ?? '';
        for (const text of parts) this.push(text);
      });
    }
  }

  private push(text: string): void {
    let line: Line;
    try {
      line = JSON.parse(text) as Line;
    } catch {
      line = { event: 'text', msg: text };
    }
    this.lines.push(line);
    const matched = this.waiters.filter((w) => w.test(line));
    this.waiters = this.waiters.filter((w) => !matched.includes(w));
    for (const w of matched) w.resolve(line);
  }

  waitFor(what: string, test: (l: Line) => boolean, timeoutMs = 20_000): Promise<Line> {
    const found = this.lines.find(test);
    if (found) return Promise.resolve(found);
    return withTimeout(new Promise<Line>((resolve) => this.waiters.push({ test, resolve })), what, timeoutMs);
  }
}

describe.skipIf(unavailable !== null)(
  `mesh discovery across hosts${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let lan: NetnsLan;
    let dataRoot: string;
    const nodes: Watched[] = [];
    const ids: string[] = [];
    let spoofer: Watched;
    let spoofedId: string;

    function startNode(host: NetnsHost, i: number): Watched {
      const argv = [process.execPath, BIN, 'mesh', 'peers', '--json', '--interface', host.address];
      argv.push('--data-dir', path.join(dataRoot, `h${i}`), '--api-port', '8721');
      argv.push('--refresh-ms', String(REFRESH_MS), '--peer-timeout-ms', String(PEER_TIMEOUT_MS));
      return new Watched(lan.run(host, argv, { env: { ...process.env, FIELDMESH_LOG_LEVEL: 'info' } }));
    }

    beforeAll(async () => {
      lan = createLan(4);
      dataRoot = mkdtempSync(path.join(tmpdir(), 'fm-mesh-hosts-'));
      for (const [i, host] of lan.hosts.slice(0, 3).entries()) nodes.push(startNode(host, i));
      for (const n of nodes) {
        const ready = await n.waitFor('a node to be ready', (l) => l.event === 'ready');
        ids.push(ready.peerId as string);
      }
      const spooferHost = lan.hosts[3] as NetnsHost;
      spoofer = new Watched(lan.run(spooferHost, [process.execPath, SPOOFER, spooferHost.address, '8721']));
      spoofedId = (await spoofer.waitFor('the spoofer', (l) => l.event === 'ready'))
        .announcedPeerId as string;
    });

    afterAll(() => {
      lan?.teardown();
      if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
    });

    it('each host verifies the other two', async () => {
      for (const [i, n] of nodes.entries()) {
        const others = ids.filter((_, j) => j !== i);
        for (const id of others) {
          await n.waitFor(`host ${i} to add ${id}`, (l) => l.event === 'added' && l.peerId === id);
        }
      }
      // The root namespace reaches a host's mesh API over the LAN too.
      const response = await fetch(`http://${lan.hosts[0]?.address}:8721/v1/node`);
      expect(response.status).toBe(200);
    });

    it('ignores a host announcing a PeerId whose key it does not have', async () => {
      for (const [i, n] of nodes.entries()) {
        const rejected = await n.waitFor(
          `host ${i} to reject the spoofer`,
          (l) => l.peerId === spoofedId && l.reason === 'spoofed',
        );
        expect(rejected.msg).toContain('rejected');
        expect(n.lines.some((l) => l.event === 'added' && l.peerId === spoofedId)).toBe(false);
      }
    });

    it(`drops a killed host within the documented ${DETECTION_BOUND_MS} ms`, async () => {
      await nodes[0]?.waitFor('host 0 to see host 2', (l) => l.event === 'added' && l.peerId === ids[2]);
      await nodes[1]?.waitFor('host 1 to see host 2', (l) => l.event === 'added' && l.peerId === ids[2]);
      nodes[2]?.child.kill('SIGKILL');
      // Margin for process scheduling on a loaded 2-core machine.
      const bound = DETECTION_BOUND_MS + 1500;
      await Promise.all(
        [0, 1].map((i) =>
          nodes[i]?.waitFor(
            `host ${i} to drop host 2`,
            (l) => l.event === 'removed' && l.peerId === ids[2],
            bound,
          ),
        ),
      );
      expect(nodes[0]?.lines.some((l) => l.event === 'removed' && l.peerId === ids[1])).toBe(false);
    });
  },
);

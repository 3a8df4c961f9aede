import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIBRATION_MANIFEST } from '../../helpers/agent-process.js';
import { connectTestClient } from '../../helpers/broker.js';
import { createLan, type NetnsHost, type NetnsLan, netnsUnavailable } from '../../helpers/netns.js';

/**
 * Three agents on three hosts (network namespaces joined by a bridge), zero broker settings:
 * broker: auto, mesh on. They find each other, agree on one site broker, and the first one
 * hands windows of its busy pipeline to the other two. Then a provider is killed in the middle
 * of a burst (no window may be lost), and then the broker's host (the others fail over).
 */
const BIN = path.resolve('bin/fieldmesh.js');
const WINDOW = 32;
const STRIDE = 4;
const RESULTS = 'fieldmesh/v1/pipelines/line/results';

interface Node {
  host: NetnsHost;
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  exited: boolean;
}

const unavailable = netnsUnavailable();

describe.skipIf(unavailable !== null)(
  `a site of three agents (${unavailable ?? 'network namespaces'})`,
  () => {
    let lan: NetnsLan;
    let dir: string;
    const nodes: Node[] = [];
    const clients: MqttClient[] = [];

    function config(i: number, host: NetnsHost): Record<string, unknown> {
      return {
        node: { name: `h${i}`, dataDir: path.join(dir, `h${i}`) },
        log: { level: 'info' },
        // h1 ranks first, then h2, then h0: the consumer outlives the broker's host below.
        broker: {
          mode: 'auto',
          priority: [1, 5, 3][i],
          port: 1883,
          storage: 'memory',
          auth: { allowAnonymous: true },
        },
        mqtt: { connectTimeoutMs: 15_000, reconnect: { minMs: 100, maxMs: 1_000 } },
        mesh: {
          enabled: true,
          interface: host.address,
          queryIntervalMs: 300,
          refreshMs: 400,
          peerTimeoutMs: 1_500,
          electionWaitMs: 1_500,
          offload: { slots: 2, timeoutMs: 1_000, voucherEvery: 20 },
        },
        models: [{ id: 'vibration-ae', manifest: VIBRATION_MANIFEST, warmupRuns: 1 }],
        // Only the first node reads the sensors; the others serve it.
        pipelines:
          i === 0
            ? [
                {
                  id: 'line',
                  model: 'vibration-ae',
                  input: {
                    topic: 'line/+/vibration',
                    format: 'number',
                    sensor: { from: 'level', level: 1 },
                    qos: 1,
                  },
                  window: { stride: STRIDE },
                  results: { qos: 1 },
                  placement: 'auto',
                  maxLocalQueue: 0,
                },
              ]
            : [],
      };
    }

    function logged(node: Node, msg: string): Record<string, unknown> | undefined {
      return node.logs.find((l) => l.msg === msg);
    }

    async function until<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
      const end = Date.now() + ms;
      for (;;) {
        const v = fn();
        if (v !== undefined && v !== false) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    /** The URL of the site broker, as every living node last chose it. */
    function siteBrokerOf(node: Node): string | undefined {
      const moves = node.logs.filter((l) => l.msg === 'site broker chosen' || l.msg === 'site broker moved');
      return moves.at(-1)?.url as string | undefined;
    }

    async function burst(
      url: string,
      sensors: string[],
      readings: number,
      during?: () => void,
    ): Promise<number> {
      const pub = await connectTestClient(url, { clientId: `sensors-${Date.now()}` });
      clients.push(pub);
      for (let n = 0; n < readings; n++) {
        await Promise.all(
          sensors.map((s) =>
            pub.publishAsync(`line/${s}/vibration`, String(Math.sin(n / 3 + s.length)), { qos: 1 }),
          ),
        );
        if (n === Math.floor(readings / 2)) during?.();
      }
      return sensors.length * (Math.floor((readings - WINDOW) / STRIDE) + 1);
    }

    beforeAll(async () => {
      lan = createLan(3);
      dir = await mkdtemp(path.join(tmpdir(), 'fm-mesh-site-'));
      for (const [i, host] of lan.hosts.entries()) {
        const file = path.join(dir, `h${i}.json`);
        await writeFile(file, JSON.stringify(config(i, host)));
        const proc = lan.run(host, [process.execPath, BIN, 'agent', '--config', file]);
        const node: Node = { host, proc, logs: [], exited: false };
        createInterface({ input: proc.stdout! }).on('line', (line) => {
          try {
            node.logs.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            node.logs.push({ msg: line });
          }
        });
        proc.stderr?.resume();
        proc.on('exit', () => {
          node.exited = true;
        });
        nodes.push(node);
      }
    }, 30_000);

    afterAll(async () => {
      for (const c of clients) await c.endAsync(true).catch(() => undefined);
      lan?.teardown();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('finds its peers and agrees on one site broker, hosted by one of them', async () => {
      for (const node of nodes) await until(`${node.host.ns} ready`, () => logged(node, 'agent ready'));
      const urls = nodes.map((n) => siteBrokerOf(n));
      expect(new Set(urls).size).toBe(1);
      // Two agents that elected themselves before they saw each other converge: one stops its own.
      const hosting = (n: Node) =>
        n.logs.filter((l) => l.msg === 'elected: hosting the site broker').length -
        n.logs.filter((l) => l.msg === 'another node hosts the site broker; stopping ours').length;
      const hosts = await until('one host', () => {
        const h = nodes.filter((n) => hosting(n) > 0);
        return h.length === 1 ? h : undefined;
      });
      expect(urls[0]).toBe(`mqtt://${hosts[0]!.host.address}:1883`);
      expect(hosts[0]).toBe(nodes[1]);
    });

    async function collectResults(url: string): Promise<Record<string, unknown>[]> {
      const observer = await connectTestClient(url, { clientId: `observer-${Date.now()}` });
      clients.push(observer);
      const results: Record<string, unknown>[] = [];
      observer.on('message', (_t, p) => results.push(JSON.parse(p.toString()) as Record<string, unknown>));
      await observer.subscribeAsync(RESULTS, { qos: 1 });
      return results;
    }

    it('hands windows of a busy pipeline to its peers, losing none', async () => {
      const url = siteBrokerOf(nodes[0]!)!;
      const results = await collectResults(url);
      const expected = await burst(url, ['m1', 'm2', 'm3', 'm4'], 400);
      await until('every result', () => results.length >= expected, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(results).toHaveLength(expected);
      const peers = new Set(nodes.slice(1).map((n) => n.logs.find((l) => typeof l.node === 'string')?.node));
      const offloaded = results.filter((r) => r.ranOn !== undefined);
      expect(offloaded.length).toBeGreaterThan(0);
      for (const r of offloaded) expect(peers.has(r.ranOn)).toBe(true);
    }, 60_000);

    it('loses no window when a provider is killed in the middle of a burst', async () => {
      const url = siteBrokerOf(nodes[0]!)!;
      const brokerHost = nodes.find((n) => url.includes(`//${n.host.address}:`))!;
      const victim = nodes.slice(1).find((n) => n !== brokerHost)!;
      const results = await collectResults(url);
      const expected = await burst(url, ['k1', 'k2', 'k3', 'k4'], 400, () => victim.proc.kill('SIGKILL'));
      await until('every result after the kill', () => results.length >= expected, 30_000);
      await new Promise((r) => setTimeout(r, 300));
      const keys = new Set(results.map((r) => `${r.sensor}/${(r.window as { end: number }).end}`));
      expect(keys.size).toBe(expected);
      expect(victim.exited).toBe(true);
    }, 60_000);

    it('fails over when the site broker’s host is killed', async () => {
      const url = siteBrokerOf(nodes[0]!)!;
      const host = nodes.find((n) => !n.exited && url.includes(`//${n.host.address}:`))!;
      const survivors = nodes.filter((n) => !n.exited && n !== host);
      expect(survivors.length).toBeGreaterThan(0);
      const marks = survivors.map((s) => s.logs.length);
      const killedAt = Date.now();
      host.proc.kill('SIGKILL');
      const moved = new Set<string>();
      for (const [i, s] of survivors.entries()) {
        const line = await until(`${s.host.ns} on a new broker`, () =>
          s.logs.slice(marks[i]).find((l) => l.msg === 'site broker moved'),
        );
        moved.add(line.url as string);
      }
      const failoverMs = Date.now() - killedAt;
      expect(moved.size).toBe(1);
      expect([...moved][0]).not.toBe(url);
      // Peers notice within peerTimeoutMs + refreshMs (1.9 s here); the new host starts at once.
      expect(failoverMs).toBeLessThan(10_000);
      expect(survivors).toEqual([nodes[0]]);
      // The pipeline subscribed again on the new broker: readings there give results.
      const next = [...moved][0]!;
      expect(next).toBe(`mqtt://${nodes[0]!.host.address}:1883`);
      const results = await collectResults(next);
      const expected = await burst(next, ['f1'], 100);
      await until('results through the new broker', () => results.length >= expected, 20_000);
    }, 60_000);
  },
);

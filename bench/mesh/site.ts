import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { benchBrokerArgs, type ReadyChild, spawnReady } from '../lib/child.js';
import type { NetnsHost, NetnsLan } from '../lib/netns.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = path.join(ROOT, 'bin/fieldmesh.js');

/** The mesh timings every bench agent runs with (the schema's defaults, stated so the report can quote them). */
export const MESH_TIMINGS = { queryIntervalMs: 1_000, refreshMs: 1_000, peerTimeoutMs: 3_500 } as const;
/** discovery's fetch timeout (docs/mesh.md §4), not a config setting: part of the detection bound. */
export const FETCH_TIMEOUT_MS = 2_000;

export type LogLine = Record<string, unknown> & { msg?: string; at: number };

/** One agent process in a namespace, its JSON log lines kept with the time each was read. */
export interface BenchAgent {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly spawnedAt: number;
  readonly logs: LogLine[];
  /** Resolves with the first line (from index `from`) that `match` accepts. */
  waitFor(what: string, match: (l: LogLine) => boolean, timeoutMs: number, from?: number): Promise<LogLine>;
  kill(): Promise<void>;
}

/** `fieldmesh broker` in the root namespace, listening on its LAN address only. */
export async function startLanBroker(lan: NetnsLan): Promise<{ child: ReadyChild; url: string }> {
  const child = await spawnReady(process.execPath, [...benchBrokerArgs(CLI), '--host', lan.rootAddress], {
    ready: /broker listening/,
    timeoutMs: 15_000,
  });
  return { child, url: (JSON.parse(child.readyLine) as { url: string }).url };
}

export interface AgentSpec {
  name: string;
  host: NetnsHost;
  brokerUrl: string;
  dataDir: string;
  /** Model calls this node runs for peers; 0 = none. */
  slots: number;
  models?: readonly Record<string, unknown>[];
  pipelines?: readonly Record<string, unknown>[];
}

export function agentConfig(spec: AgentSpec): Record<string, unknown> {
  return {
    node: { name: spec.name, dataDir: spec.dataDir },
    log: { level: 'info' },
    mqtt: { url: spec.brokerUrl, clientId: `bench-${spec.name}-${Date.now()}` },
    mesh: {
      enabled: true,
      interface: spec.host.address,
      ...MESH_TIMINGS,
      offload: { slots: spec.slots, maxInFlightPerPeer: 4, timeoutMs: 2_000 },
    },
    models: spec.models ?? [],
    pipelines: spec.pipelines ?? [],
  };
}

/** Writes the config and starts `fieldmesh agent` inside the spec's namespace. */
export async function startAgent(lan: NetnsLan, spec: AgentSpec, work: string): Promise<BenchAgent> {
  const file = path.join(work, `${spec.name}.json`);
  await writeFile(file, JSON.stringify(agentConfig(spec)));
  const spawnedAt = performance.now();
  const proc = lan.run(spec.host, [process.execPath, CLI, 'agent', '--config', file]);
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const at = performance.now();
    try {
      logs.push({ ...(JSON.parse(line) as Record<string, unknown>), at });
    } catch {
      logs.push({ msg: line, at });
    }
    for (const w of waiters) w();
  });
  const stderr: string[] = [];
  proc.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      for (const w of waiters) w();
      resolve();
    }),
  );
  const waitFor: BenchAgent['waitFor'] = (what, match, timeoutMs, from = 0) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = logs.slice(from).find(match);
        if (hit !== undefined || exited) {
          clearTimeout(timer);
          waiters.delete(check);
          if (hit !== undefined) resolve(hit);
          else reject(new Error(`${spec.name} exited before ${what}\n${stderr.join('').slice(-2000)}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${spec.name}: no ${what} after ${timeoutMs} ms\n${stderr.join('').slice(-2000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return {
    name: spec.name,
    proc,
    spawnedAt,
    logs,
    waitFor,
    kill: async () => {
      if (!exited) proc.kill('SIGKILL');
      await exit;
      // BENCH_MESH_LOG_DIR=<dir> keeps every agent's log lines, for reading why a figure moved.
      const dir = process.env.BENCH_MESH_LOG_DIR;
      if (dir)
        await writeFile(path.join(dir, `${spec.name}.log`), logs.map((l) => JSON.stringify(l)).join('\n'));
    },
  };
}

export const isMsg =
  (msg: string, fields: Record<string, unknown> = {}) =>
  (l: LogLine): boolean =>
    l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v);

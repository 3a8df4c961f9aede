import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ReadyChild, spawnReady } from '../lib/child.js';
import { configPath, freePort, writeAgentConfig } from './agent-config.js';
import { evictFromPageCache } from './page-cache.js';

/** What the suite measures an agent or a baseline with: the files and the rate they share. */
export interface Setup {
  /** The x64 release executable. */
  exe: string;
  /** The Node that executable embeds (release/.cache/…/bin/node), which runs the baseline. */
  node: string;
  /** The baseline script (compiled bench/footprint/bare.ts). */
  bare: string;
  /** FIELDMESH_RUNTIME_DIR, unpacked beforehand. */
  runtimeDir: string;
  /** Scratch folder for configs and data dirs. */
  work: string;
  manifest: string;
  model: string;
  windowSize: number;
  norm: { mean: number; std: number };
  /** Readings per second of the load; the baseline runs rate / stride windows per second. */
  readingsPerS: number;
  windowsPerS: number;
}

export type SubjectName = 'agent' | 'bare';

export interface Subject {
  name: SubjectName;
  child: ReadyChild;
  pid: number;
  /** Spawn → ready, ms. */
  startMs: number;
  /** The agent's embedded broker, where the load goes (agent only). */
  brokerUrl?: string;
}

let started = 0;
/** The onnxruntime-node the baseline imports: the project's, the same version the executable carries. */
const ORT_NATIVE = fileURLToPath(new URL('../../../node_modules/onnxruntime-node/bin', import.meta.url));

/**
 * Each side starts cold, as after a reboot: its executable and libraries are first dropped
 * from the page cache (page-cache.ts says why).
 *
 * `fieldmesh agent --config <fixture>` from the release executable; ready at its `agent ready`
 * line, which it logs once its broker listens, its mesh announces it over mDNS, its model is
 * loaded and warmed up, its pipeline subscribed and its node record published.
 */
export async function startAgent(setup: Setup): Promise<Subject> {
  const tag = `${process.pid}-${++started}`;
  const brokerPort = await freePort();
  const file = configPath(setup.work, tag);
  await writeAgentConfig(file, {
    dataDir: path.join(setup.work, `data-${tag}`),
    manifest: setup.manifest,
    brokerPort,
    mdnsPort: await freePort(),
    tag: tag.replace(/[^a-z0-9-]/g, ''),
  });
  await evictFromPageCache([setup.exe, setup.runtimeDir]);
  const t0 = performance.now();
  const child = await spawnReady(setup.exe, ['agent', '--config', file], {
    env: { ...process.env, FIELDMESH_RUNTIME_DIR: setup.runtimeDir },
    ready: /"msg":"agent ready"/,
    timeoutMs: 30_000,
  });
  return {
    name: 'agent',
    child,
    pid: child.proc.pid as number,
    startMs: performance.now() - t0,
    brokerUrl: `mqtt://127.0.0.1:${brokerPort}`,
  };
}

/** The baseline: ready once its session is created and warmed up. */
export async function startBare(setup: Setup): Promise<Subject> {
  await evictFromPageCache([setup.node, ORT_NATIVE, setup.model]);
  const t0 = performance.now();
  const child = await spawnReady(
    setup.node,
    [
      setup.bare,
      setup.model,
      String(setup.windowSize),
      String(setup.windowsPerS),
      String(setup.norm.mean),
      String(setup.norm.std),
    ],
    { ready: /^ready$/, timeoutMs: 30_000 },
  );
  return { name: 'bare', child, pid: child.proc.pid as number, startMs: performance.now() - t0 };
}

export function startSubject(name: SubjectName, setup: Setup): Promise<Subject> {
  return name === 'agent' ? startAgent(setup) : startBare(setup);
}

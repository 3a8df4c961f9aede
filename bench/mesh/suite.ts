import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { netnsUnavailable } from '../lib/netns.js';
import { median, newReport, type SuiteReport } from '../lib/report.js';
import { cpuDuring } from './cpu.js';
import { discoveryRound } from './discovery.js';
import { buildHeavyModel } from './model.js';
import { type Site, startSite } from './setup.js';
import { FETCH_TIMEOUT_MS, MESH_TIMINGS } from './site.js';

/**
 * Shared 1 M-weight layers after the first: ≈ 19 ms per window on one thread of the bench
 * machine, a small CNN's cost on a gateway. The mesh path itself costs about 3 ms of CPU per
 * window (MQTT, JSON, CBOR, the broker), so lighter models scale less: BENCH_MESH_DEPTH=32
 * (≈ 3.3 ms) or 96 (≈ 8.7 ms) measure that.
 */
const DEPTH = depthFromEnv(process.env.BENCH_MESH_DEPTH) ?? 224;
/** Windows per second for the latency comparison: well inside what either side can run. */
const LATENCY_RATE = Math.min(40, Math.round(4000 / DEPTH));
/** Windows kept in flight while saturating: far more than one node runs at once. */
const OUTSTANDING = 32;

interface Plan {
  rounds: number;
  discoveryRounds: number;
  warmupMs: number;
  measureMs: number;
}

type Push = (name: string, value: number) => void;

/**
 * mesh: discovery and peer loss timed from the agents' own log lines, then node A's pipelines
 * (placement local / peer / auto, one model) loaded in turn, alternating which goes first.
 */
export async function runMeshSuite(opts: { quick: boolean }): Promise<SuiteReport> {
  const report = newReport('mesh', opts.quick);
  const why = netnsUnavailable();
  if (why !== null) {
    process.stderr.write(`  mesh: skipped: ${why}\n`);
    return Object.assign(report, { skipped: why });
  }
  const plan: Plan = opts.quick
    ? { rounds: 2, discoveryRounds: 2, warmupMs: 800, measureMs: 2_000 }
    : { rounds: 4, discoveryRounds: 5, warmupMs: 1_500, measureMs: 5_000 };
  const work = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-mesh-'));
  const rounds: Record<string, number[]> = {};
  const push: Push = (k, v) => {
    rounds[k] = [...(rounds[k] ?? []), v];
  };
  let site: Site | undefined;
  try {
    const model = await buildHeavyModel(path.join(work, 'model'), DEPTH);
    site = await startSite(work, model);
    await measureDiscovery(site, plan, push);
    await measureScale(site, plan, push);
    await measureOffloadLatency(site, plan, push);
  } finally {
    await site?.stop();
    await rm(work, { recursive: true, force: true });
  }
  return summarise(report, rounds);
}

async function measureDiscovery(site: Site, plan: Plan, push: Push): Promise<void> {
  for (let round = 0; round < plan.discoveryRounds; round++) {
    const r = await discoveryRound(
      site.lan,
      { host: site.joinHost, brokerUrl: site.brokerUrl, work: site.work, round },
      site.a,
    );
    process.stderr.write(`  discovery round ${round + 1}: ${JSON.stringify(r)}\n`);
    push('discover_ms', r.discoverMs);
    push('joiner_ready_ms', r.readyMs);
    push('peer_loss_ms', r.peerLossMs);
  }
}

/** Throughput of A alone (placement local) and of A + B (placement auto), saturated. */
async function measureScale(site: Site, plan: Plan, push: Push): Promise<void> {
  // Warm-up: JIT, both sessions' arenas, and A learning B's compute time.
  await site.rig.closedLoop('local', OUTSTANDING, 0, plan.warmupMs);
  await site.rig.closedLoop('auto', OUTSTANDING, 0, plan.warmupMs);
  const subjects = [
    { name: 'a', pid: site.a.proc.pid },
    { name: 'b', pid: site.b.proc.pid },
    { name: 'broker', pid: site.brokerPid },
  ];
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? (['local', 'auto'] as const) : (['auto', 'local'] as const);
    const got: Record<string, number> = {};
    for (const p of order) {
      const { result: r, pct } = await cpuDuring(subjects, () =>
        site.rig.closedLoop(p, OUTSTANDING, plan.warmupMs, plan.measureMs),
      );
      got[p] = r.windowsPerS;
      for (const [who, v] of Object.entries(pct)) push(`${p}_cpu_pct_${who}`, v);
      // Every process's CPU (ms per second = % × 10) spread over the windows they finished.
      const wholeProcesses = Object.entries(pct).filter(([who]) => !who.endsWith('_loop'));
      push(`${p}_cpu_ms_per_window`, (wholeProcesses.reduce((n, [, v]) => n + v, 0) * 10) / r.windowsPerS);
      if (p === 'auto') push('two_nodes_offloaded_share', r.offloadedShare);
      process.stderr.write(`  scale round ${round + 1} ${p}: ${JSON.stringify(r)}\n`);
    }
    push('one_node_windows_per_s', got.local ?? Number.NaN);
    push('two_nodes_windows_per_s', got.auto ?? Number.NaN);
    push('scale_2_nodes', (got.auto ?? Number.NaN) / (got.local ?? Number.NaN));
  }
}

/** Publish → result latency of windows run on B (placement peer) and on A (placement local). */
async function measureOffloadLatency(site: Site, plan: Plan, push: Push): Promise<void> {
  for (let round = 0; round < plan.rounds; round++) {
    const order = round % 2 === 0 ? (['peer', 'local'] as const) : (['local', 'peer'] as const);
    const got: Record<string, number> = {};
    for (const p of order) {
      const r = await site.rig.paced(p, LATENCY_RATE, plan.warmupMs, plan.measureMs);
      if (r.received !== r.expected) throw new Error(`${p}: ${r.received} of ${r.expected} results`);
      got[p] = r.p99Ms;
      push(`${p}_p50_ms`, r.p50Ms);
      push(`${p}_p99_ms`, r.p99Ms);
      if (p === 'peer') push('peer_offloaded_share', r.offloadedShare);
      process.stderr.write(`  latency round ${round + 1} ${p}: ${JSON.stringify(r)}\n`);
    }
    push('offload_p99_vs_local', (got.peer ?? Number.NaN) / (got.local ?? Number.NaN));
  }
}

function summarise(report: SuiteReport, rounds: Record<string, number[]>): SuiteReport {
  const put = (name: string, unit: string) => {
    const values = rounds[name] ?? [];
    report.metrics[name] = { value: median(values), unit };
    report.rounds[name] = values;
  };
  put('discover_ms', 'ms');
  put('joiner_ready_ms', 'ms');
  report.metrics.mdns_query_interval_ms = { value: MESH_TIMINGS.queryIntervalMs, unit: 'ms' };
  put('peer_loss_ms', 'ms');
  report.metrics.mesh_refresh_ms = { value: MESH_TIMINGS.refreshMs, unit: 'ms' };
  report.metrics.mesh_peer_timeout_ms = { value: MESH_TIMINGS.peerTimeoutMs, unit: 'ms' };
  put('local_p50_ms', 'ms');
  put('local_p99_ms', 'ms');
  put('peer_p50_ms', 'ms');
  put('peer_p99_ms', 'ms');
  put('peer_offloaded_share', 'share');
  put('one_node_windows_per_s', 'windows/s');
  put('two_nodes_windows_per_s', 'windows/s');
  put('two_nodes_offloaded_share', 'share');
  put('local_cpu_ms_per_window', 'ms');
  put('auto_cpu_ms_per_window', 'ms');
  const m = (k: string) => report.metrics[k]?.value ?? Number.NaN;
  const bound = MESH_TIMINGS.peerTimeoutMs + MESH_TIMINGS.refreshMs + FETCH_TIMEOUT_MS;
  report.ratios.discover_vs_query_interval = {
    value: m('discover_ms') / MESH_TIMINGS.queryIntervalMs,
    of: 'discover_ms / mdns_query_interval_ms',
  };
  report.ratios.peer_loss_vs_bound = {
    value: m('peer_loss_ms') / bound,
    of: `peer_loss_ms / (peerTimeoutMs + refreshMs + fetchTimeoutMs = ${bound} ms)`,
    goal: '≤ 1',
  };
  report.ratios.offload_p99_vs_local = {
    value: m('peer_p99_ms') / m('local_p99_ms'),
    of: `peer_p99_ms / local_p99_ms at ${LATENCY_RATE} windows/s`,
  };
  report.ratios.scale_2_nodes = {
    value: m('two_nodes_windows_per_s') / m('one_node_windows_per_s'),
    of: 'two_nodes_windows_per_s / one_node_windows_per_s',
    goal: '≥ 1.6',
  };
  // CPU by process during the saturation runs (% of one core): what the two cores went to.
  for (const [k, v] of Object.entries(rounds)) if (k.includes('_cpu_pct_')) report.rounds[k] = v;
  report.rounds.offload_p99_vs_local = rounds.offload_p99_vs_local ?? [];
  report.rounds.scale_2_nodes = rounds.scale_2_nodes ?? [];
  return report;
}

function depthFromEnv(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new Error(`BENCH_MESH_DEPTH=${raw}: give a whole number of layers from 1 to 1000`);
  }
  return n;
}

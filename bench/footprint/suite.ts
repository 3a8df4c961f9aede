import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, newReport, type SuiteReport } from '../lib/report.js';
import { STRIDE } from './agent-config.js';
import { measureRound, type Phases, type RoundFigures, type SoakFigures, soak } from './measure.js';
import { fileMb, findRelease, treeMb, unpackRounds, unpackRuntime } from './sizes.js';
import type { Setup, SubjectName } from './subjects.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BARE = path.join(ROOT, 'dist/bench/footprint/bare.js');
const MANIFEST = path.join(ROOT, 'models/examples/vibration-ae/manifest.json');
/** The e2e suite's latency rate: 16 sensors, 2,000 readings/s, stride 4 → 500 windows/s. */
const READINGS_PER_S = 2000;

/**
 * footprint: what the release executable weighs on disk and in memory, and how fast it starts,
 * beside a bare Node (the same Node 24 the executable embeds) that only loads onnxruntime-node
 * with the same model (bench/footprint/bare.ts); then a soak at load for memory creep.
 */
export async function runFootprintSuite(opts: { quick: boolean }): Promise<SuiteReport> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const release = findRelease(ROOT, pkg.version);
  const rounds = opts.quick ? 2 : 5;
  const phases: Phases = opts.quick
    ? { settleMs: 3000, idleMs: 1000, loadMs: 6000 }
    : { settleMs: 5000, idleMs: 2000, loadMs: 15_000 };
  const soakS = Number(process.env.BENCH_FOOTPRINT_SOAK_S ?? (opts.quick ? 60 : 600));
  const report = newReport('footprint', opts.quick);
  const put = (name: string, values: number[], unit: string) => {
    report.metrics[name] = { value: median(values), unit };
    if (values.length > 1) report.rounds[name] = values;
  };

  put('exe_x64_mb', [await fileMb(release.x64)], 'MB');
  put('exe_arm64_mb', [await fileMb(release.arm64)], 'MB');
  put('tarball_armv7_mb', [await fileMb(release.armv7)], 'MB');
  put('embedded_node_mb', [await fileMb(release.node)], 'MB');
  const unpack = await unpackRounds(release.x64, opts.quick ? 1 : 3);
  put('first_run_unpack_ms', unpack.first, 'ms');
  put('version_run_ms', unpack.warm, 'ms');

  const work = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-footprint-'));
  try {
    const runtimeDir = path.join(work, 'runtime');
    const { appDir } = await unpackRuntime(release.x64, runtimeDir);
    put('runtime_dir_mb', [await treeMb(appDir)], 'MB');
    // The application's JavaScript: the entry module and the chunk each command loads.
    const js =
      (await fileMb(path.join(appDir, 'fieldmesh.mjs'))) + (await treeMb(path.join(appDir, 'chunks')));
    put('bundle_js_mb', [js], 'MB');
    put('runtime_node_modules_mb', [await treeMb(path.join(appDir, 'node_modules'))], 'MB');
    const setup = await makeSetup(release, runtimeDir, work);

    const results: Record<SubjectName, RoundFigures[]> = { agent: [], bare: [] };
    for (let round = 0; round < rounds; round++) {
      const order: SubjectName[] = round % 2 === 0 ? ['bare', 'agent'] : ['agent', 'bare'];
      for (const name of order) {
        const r = await measureRound(name, setup, phases);
        results[name].push(r);
        process.stderr.write(`  round ${round + 1} ${name}: ${JSON.stringify(r)}\n`);
      }
    }
    summariseRounds(results, put);

    const intervalS = soakS >= 300 ? 2 : 1;
    process.stderr.write(`  soak: ${soakS} s at ${READINGS_PER_S} readings/s, RSS every ${intervalS} s\n`);
    const s = await soak(setup, soakS, intervalS, phases.settleMs);
    process.stderr.write(`  soak: ${JSON.stringify({ ...s, samples: undefined })}\n`);
    summariseSoak(s, soakS, put, report);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  addRatios(report);
  return report;
}

async function makeSetup(
  release: { x64: string; node: string },
  runtimeDir: string,
  work: string,
): Promise<Setup> {
  const manifest = JSON.parse(await readFile(MANIFEST, 'utf8')) as {
    inputs?: { shape?: (number | string)[] }[];
    preprocessing?: { normalise?: { mean: number; std: number } };
  };
  const width = manifest.inputs?.[0]?.shape?.at(-1);
  const windowSize = typeof width === 'number' ? width : 32;
  return {
    exe: release.x64,
    node: release.node,
    bare: BARE,
    runtimeDir,
    work,
    manifest: MANIFEST,
    model: path.join(path.dirname(MANIFEST), 'model.onnx'),
    windowSize,
    norm: manifest.preprocessing?.normalise ?? { mean: 0, std: 1 },
    readingsPerS: READINGS_PER_S,
    windowsPerS: READINGS_PER_S / STRIDE,
  };
}

type Put = (name: string, values: number[], unit: string) => void;

function summariseRounds(results: Record<SubjectName, RoundFigures[]>, put: Put): void {
  for (const name of ['agent', 'bare'] as const) {
    const pick = (k: keyof RoundFigures) => results[name].map((r) => r[k]);
    put(`${name}_start_ms`, pick('startMs'), 'ms');
    put(`${name}_idle_rss_mb`, pick('idleRssMb'), 'MB');
    put(`${name}_idle_anon_mb`, pick('idleAnonMb'), 'MB');
    put(`${name}_idle_file_mb`, pick('idleFileMb'), 'MB');
    put(`${name}_idle_exe_mb`, pick('idleExeMb'), 'MB');
    put(`${name}_idle_ort_mb`, pick('idleOrtMb'), 'MB');
    put(`${name}_threads`, pick('threads'), 'threads');
    put(`${name}_load_rss_max_mb`, pick('loadRssMaxMb'), 'MB');
    put(`${name}_load_rss_median_mb`, pick('loadRssMedianMb'), 'MB');
  }
  put(
    'agent_load_results_lost',
    results.agent.map((r) => r.lost),
    'results',
  );
}

function summariseSoak(s: SoakFigures, soakS: number, put: Put, report: SuiteReport): void {
  put('soak_s', [soakS], 's');
  put('agent_soak_first_mb', [s.agent.firstMb], 'MB');
  put('agent_soak_last_mb', [s.agent.lastMb], 'MB');
  put('bare_soak_growth_pct', [s.bare.pct], '%');
  put('soak_readings', [s.sent], 'readings');
  put('soak_results_lost', [s.lost], 'results');
  put('soak_p99_ms', [s.p99Ms], 'ms');
  report.ratios.soak_growth_pct = {
    value: s.agent.pct,
    of: '(agent RSS median of last window − of first after warm-up) / first × 100',
    goal: '< 5',
  };
  report.rounds.agent_soak_rss_mb = s.samples.agent;
  report.rounds.bare_soak_rss_mb = s.samples.bare;
}

function addRatios(report: SuiteReport): void {
  const m = (k: string) => report.metrics[k]?.value ?? Number.NaN;
  const soakGrowth = report.ratios.soak_growth_pct;
  report.ratios = {
    rss_vs_bare: {
      value: m('agent_idle_rss_mb') / m('bare_idle_rss_mb'),
      of: 'agent_idle_rss_mb / bare_idle_rss_mb',
      goal: '≤ 1.3',
    },
    rss_load_vs_bare: {
      value: m('agent_load_rss_max_mb') / m('bare_load_rss_max_mb'),
      of: 'agent_load_rss_max_mb / bare_load_rss_max_mb',
    },
    start_vs_bare: { value: m('agent_start_ms') / m('bare_start_ms'), of: 'agent_start_ms / bare_start_ms' },
    ...(soakGrowth ? { soak_growth_pct: soakGrowth } : {}),
  };
}

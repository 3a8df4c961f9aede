import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { median, newReport, type SuiteReport } from '../lib/report.js';
import { measureFirstLoad, measureWarmLoad } from './load-time.js';
import { MAX_BATCH, measureMicrobatch, QUEUED } from './microbatch.js';
import { type BenchModel, benchModels, HEAVY_DEPTH } from './models.js';
import { measurePerWindow, type Push } from './per-window.js';

interface Plan {
  /** Rounds of the per-window comparison and of micro-batching. */
  rounds: number;
  /** Wall time each subject takes per round of the per-window comparison. */
  sideMs: number;
  /** Backlogs of QUEUED windows per side per round of micro-batching. */
  bursts: number;
  loadRounds: number;
  /** Fresh processes per (backend, subject) for the first-load figures. */
  childRounds: number;
}

/**
 * inference: the agent's inference path beside a bare onnxruntime session on the same model
 * and input (native and WebAssembly, inline and in a worker thread), micro-batching against
 * one window per call, and model load time, warm and in a fresh process.
 */
export async function runInferenceSuite(opts: { quick: boolean }): Promise<SuiteReport> {
  const report = newReport('inference', opts.quick);
  const plan: Plan = opts.quick
    ? { rounds: 4, sideMs: 100, bursts: 3, loadRounds: 2, childRounds: 1 }
    : { rounds: 12, sideMs: 500, bursts: 8, loadRounds: 5, childRounds: 5 };
  const work = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-inference-'));
  const rounds: Record<string, number[]> = {};
  const push: Push = (k, v) => {
    rounds[k] = [...(rounds[k] ?? []), v];
  };
  try {
    const models = await benchModels(work, HEAVY_DEPTH);
    for (const m of models) await measurePerWindow(m, plan, push);
    await measureMicrobatch(models[0] as BenchModel, plan, push);
    for (const m of models) await measureWarmLoad(m, { rounds: plan.loadRounds }, push);
    await measureFirstLoad(models[0] as BenchModel, { rounds: plan.childRounds }, push);
    return summarise(report, models, rounds);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function summarise(report: SuiteReport, models: BenchModel[], rounds: Record<string, number[]>): SuiteReport {
  const put = (name: string, unit: string) => {
    const values = rounds[name] ?? [];
    report.metrics[name] = { value: median(values), unit };
    report.rounds[name] = values;
  };
  const m = (k: string) => report.metrics[k]?.value ?? Number.NaN;
  const ratio = (name: string, a: string, b: string, goal?: string) => {
    report.ratios[name] = { value: m(a) / m(b), of: `${a} / ${b}`, ...(goal ? { goal } : {}) };
    report.rounds[name] = rounds[name] ?? [];
  };
  for (const { key } of models) {
    for (const s of ['agent', 'bare', 'agent_worker', 'agent_wasm', 'bare_wasm']) {
      put(`${key}_${s}_us_per_window`, 'µs');
    }
  }
  report.metrics.heavy_depth = { value: HEAVY_DEPTH, unit: 'layers of 1024 × 1024' };
  put('microbatch_batched_windows_per_s', 'windows/s');
  put('microbatch_alone_windows_per_s', 'windows/s');
  report.metrics.microbatch_queued = { value: QUEUED, unit: 'windows pushed at once' };
  report.metrics.microbatch_max_batch = { value: MAX_BATCH, unit: 'windows per call' };
  for (const { key } of models) {
    for (const b of ['native', 'wasm']) {
      put(`${key}_load_${b}_ms`, 'ms');
      put(`${key}_create_${b}_bare_ms`, 'ms');
    }
  }
  for (const b of ['native', 'wasm']) {
    put(`ae_first_load_${b}_ms`, 'ms');
    put(`ae_first_create_${b}_bare_ms`, 'ms');
  }
  for (const { key } of models) {
    ratio(`wrapper_overhead_${key}`, `${key}_agent_us_per_window`, `${key}_bare_us_per_window`, '≤ 1.1');
  }
  for (const { key } of models) {
    ratio(`wasm_vs_native_${key}`, `${key}_agent_wasm_us_per_window`, `${key}_agent_us_per_window`);
    ratio(
      `wasm_wrapper_overhead_${key}`,
      `${key}_agent_wasm_us_per_window`,
      `${key}_bare_wasm_us_per_window`,
    );
  }
  ratio('microbatch_gain', 'microbatch_batched_windows_per_s', 'microbatch_alone_windows_per_s');
  return report;
}

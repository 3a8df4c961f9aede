import { normaliseInto } from '../../agent/window/normalise.js';
import { median } from '../lib/report.js';
import { agentPerWindowUs, jobsOf, loadRuntime } from './agent-path.js';
import { type Backend, barePerWindowUs, bareSessionFor } from './bare.js';
import { type BenchModel, rawWindows } from './models.js';

export type Push = (name: string, value: number) => void;

/** Distinct windows each side cycles through: the same raw readings for every subject. */
const WINDOWS = 64;
/** Calls of the calibration run that sets how many calls one side of a round makes. */
const CALIBRATION_CALLS = 50;
/** Slices each subject's share of a round is cut into (see interleaved). */
const SLICES = 5;

interface Subject {
  /** Metric stem: `<model>_<name>_us_per_window`. */
  readonly name: string;
  /** `count` windows, one per call; wall time per window, µs. */
  measure(count: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Per-window time of one model through five subjects: the agent's path (BatchRunner →
 * ModelRuntime → postprocessRow) inline, in a worker thread and on WebAssembly, and a bare
 * session, native and WebAssembly. Each subject makes as many calls as fill `sideMs` (from
 * its own calibration run); after a discarded warm-up round, every round runs all five,
 * interleaved in slices.
 */
export async function measurePerWindow(
  model: BenchModel,
  plan: { rounds: number; sideMs: number },
  push: Push,
): Promise<void> {
  const subjects = await openSubjects(model);
  try {
    const counts = new Map<Subject, number>();
    for (const s of subjects) {
      await s.measure(CALIBRATION_CALLS); // warm-up: JIT, the session's arena
      const us = await s.measure(CALIBRATION_CALLS);
      counts.set(s, Math.max(20, Math.round((plan.sideMs * 1000) / us)));
    }
    // A whole round, discarded: the first full-length runs of each subject are the slowest.
    for (const s of subjects) await s.measure(counts.get(s) as number);
    for (let round = 0; round < plan.rounds; round++) {
      const got = await interleaved(subjects, counts, round);
      for (const s of subjects) push(`${model.key}_${s.name}_us_per_window`, got[s.name] as number);
      const g = (k: string) => got[k] ?? Number.NaN;
      push(`wrapper_overhead_${model.key}`, g('agent') / g('bare'));
      push(`wasm_vs_native_${model.key}`, g('agent_wasm') / g('agent'));
      push(`wasm_wrapper_overhead_${model.key}`, g('agent_wasm') / g('bare_wasm'));
      process.stderr.write(`  ${model.key} round ${round + 1}: ${JSON.stringify(rounded(got))}\n`);
    }
  } finally {
    for (const s of subjects) await s.close();
  }
}

/**
 * One round: each subject's calls split into SLICES slices, run A B C D E A B C D E …, the
 * order rotated by one per round and per slice, so a burst of other work on the machine falls
 * on every subject alike. Per subject, the median of its slices' µs per window: a slice that
 * a burst did land on does not move it.
 */
async function interleaved(
  subjects: readonly Subject[],
  counts: ReadonlyMap<Subject, number>,
  round: number,
): Promise<Record<string, number>> {
  const slices = new Map<Subject, number[]>(subjects.map((s) => [s, []]));
  for (let slice = 0; slice < SLICES; slice++) {
    for (let i = 0; i < subjects.length; i++) {
      const s = subjects[(round + slice + i) % subjects.length] as Subject;
      const n = Math.max(4, Math.round((counts.get(s) as number) / SLICES));
      slices.get(s)?.push(await s.measure(n));
    }
  }
  return Object.fromEntries(subjects.map((s) => [s.name, median(slices.get(s) ?? [])]));
}

async function openSubjects(model: BenchModel): Promise<Subject[]> {
  const raw = rawWindows(model.windowSize, WINDOWS);
  const jobs = jobsOf(raw);
  const { mean, std } = model.normalise;
  // The baseline gets the windows already normalised, with the agent's own function.
  const normalised = raw.map((w) => normaliseInto(w, mean, std));
  const agent = async (name: string, backend: Backend, worker: boolean): Promise<Subject> => {
    const runtime = await loadRuntime(model.manifestPath, backend, worker);
    if (runtime.backend !== backend || runtime.inWorker !== worker) {
      throw new Error(`bench: asked for ${backend}/${worker ? 'worker' : 'inline'}, got ${runtime.backend}`);
    }
    return {
      name,
      measure: (count) => agentPerWindowUs(runtime, model, jobs, count),
      close: () => runtime.close(),
    };
  };
  const bare = async (name: string, backend: Backend): Promise<Subject> => {
    const session = await bareSessionFor(backend, model);
    return {
      name,
      measure: (count) => barePerWindowUs(session, normalised, count),
      close: () => session.release(),
    };
  };
  return [
    await agent('agent', 'native', false),
    await bare('bare', 'native'),
    await agent('agent_worker', 'native', true),
    await agent('agent_wasm', 'wasm', false),
    await bare('bare_wasm', 'wasm'),
  ];
}

function rounded(got: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(got).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

/**
 * The broker suite's load generator, in its own process so its CPU is not the brokers': the same
 * clients, payloads and phases for every broker. It connects to all the brokers of a round at
 * once and measures them in short alternating slices (A B C, B C A, C A B, …), so a change in
 * what else the machine runs falls on all of them alike. Prints one JSON line (LoadReport).
 *
 * Usage: node load.js '<LoadSpec as JSON>'
 */
import { percentile } from '../lib/report.js';
import type { LoadIdentities } from './fixture.js';
import { type LatencySample, LoadRig, type Qos, type SaturationSample } from './load-rig.js';

export interface LoadTarget {
  name: string;
  url: string;
  /** The broker's process, whose CPU time the saturation slices read from /proc. */
  pid: number;
}

export interface LoadSpec {
  targets: LoadTarget[];
  identities: LoadIdentities;
  /** Messages in flight per publisher during saturation slices. */
  window: number;
  /** Unmeasured traffic per broker before the first slice: lazy compilation, JIT, routes. */
  warmupMs: number;
  /** Slices per broker and measurement, and the length of each. */
  slices: number;
  sliceMs: number;
  /** Paced rate of the latency slices, all publishers together. */
  latencyRate: number;
}

export interface QosReport {
  msgsPerS: number;
  brokerCpuUsPerMsg: number;
  /** The generator's CPU during saturation, in % of one core: near 100 means it was the limit. */
  loadCpuPct: number;
  /** Messages lost at saturation and in the paced slices (QoS 0 only; QoS 1 losses fail the run). */
  lost: number;
  p50Ms: number;
  p99Ms: number;
  latencySamples: number;
}

export type LoadReport = Record<string, Record<`qos${Qos}`, QosReport>>;

/** Unmeasured lead-in of every saturation slice, while the windows fill. */
const SLICE_LEAD_MS = 100;

async function main(spec: LoadSpec): Promise<LoadReport> {
  const rigs = spec.targets.map((t) => new LoadRig(t.url, spec.identities, t.pid));
  try {
    for (const rig of rigs) await rig.start();
    // A fresh broker is cold: its first second of traffic can stall for most of a second on a
    // busy machine. A burst with a bounded window warms it without leaving a backlog behind.
    for (const rig of rigs) {
      await rig.saturate(1, { window: spec.window, warmupMs: 0, durationMs: spec.warmupMs / 2 });
      await rig.saturate(0, { window: spec.window, warmupMs: 0, durationMs: spec.warmupMs / 2 });
    }
    const sliced = async <T>(run: (rig: LoadRig) => Promise<T>): Promise<T[][]> => {
      const out = rigs.map((): T[] => []);
      for (let s = 0; s < spec.slices; s++) {
        for (let k = 0; k < rigs.length; k++) {
          const i = (k + s) % rigs.length;
          (out[i] as T[]).push(await run(rigs[i] as LoadRig));
        }
      }
      return out;
    };
    const report: LoadReport = {};
    for (const qos of [0, 1] as const) {
      const paced = await sliced((rig) =>
        rig.paced(qos, { rate: spec.latencyRate, warmupMs: 50, durationMs: spec.sliceMs }),
      );
      const saturated = await sliced((rig) =>
        rig.saturate(qos, { window: spec.window, warmupMs: SLICE_LEAD_MS, durationMs: spec.sliceMs }),
      );
      spec.targets.forEach((t, i) => {
        report[t.name] ??= {} as Record<`qos${Qos}`, QosReport>;
        (report[t.name] as Record<string, QosReport>)[`qos${qos}`] = summarise(
          saturated[i] ?? [],
          paced[i] ?? [],
        );
      });
    }
    return report;
  } finally {
    await Promise.all(rigs.map((r) => r.stop()));
  }
}

function summarise(saturated: SaturationSample[], paced: LatencySample[]): QosReport {
  const total = (f: (s: SaturationSample) => number) => saturated.reduce((a, s) => a + f(s), 0);
  const measured = total((s) => s.measured);
  const elapsedMs = total((s) => s.elapsedMs);
  const latencies = paced.flatMap((p) => p.latencies);
  return {
    msgsPerS: (measured / elapsedMs) * 1000,
    brokerCpuUsPerMsg: (total((s) => s.brokerCpuMs) * 1000) / measured,
    loadCpuPct: (total((s) => s.loadCpuMs) / elapsedMs) * 100,
    lost: total((s) => s.lost) + paced.reduce((a, p) => a + p.lost, 0),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    latencySamples: latencies.length,
  };
}

try {
  const report = await main(JSON.parse(process.argv[2] ?? '') as LoadSpec);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`load generator failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}

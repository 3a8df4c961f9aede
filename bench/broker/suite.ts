import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { median, newReport, type SuiteReport } from '../lib/report.js';
import { loadIdentities, writeFixture } from './fixture.js';
import type { LoadReport, LoadSpec } from './load.js';
import { type RunningBroker, runToEnd, SUBJECTS, type Subject, startSubject } from './subjects.js';

const LATENCY_RATE = 2000;
const WINDOW = 32;

/**
 * broker: the embedded broker with authentication and ACLs on, beside plain aedes (what the hooks
 * cost) and Mosquitto (where it stands), each in its own process, driven by one load generator
 * in another (bench/broker/load.ts) that alternates between them in short slices. Fresh brokers
 * every round; the median of the rounds is reported.
 */
export async function runBrokerSuite(opts: { quick: boolean }): Promise<SuiteReport> {
  const rounds = opts.quick ? 2 : 3;
  const timing = opts.quick
    ? { warmupMs: 1000, slices: 3, sliceMs: 400 }
    : { warmupMs: 1500, slices: 6, sliceMs: 500 };
  const work = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-broker-'));
  const identities = loadIdentities();
  const results: Record<Subject, LoadReport[string][]> = { embedded: [], aedes: [], mosquitto: [] };
  try {
    const fixture = await writeFixture(work, identities);
    for (let round = 0; round < rounds; round++) {
      const brokers: { subject: Subject; broker: RunningBroker }[] = [];
      try {
        for (const subject of SUBJECTS)
          brokers.push({ subject, broker: await startSubject(subject, fixture) });
        const spec: LoadSpec = {
          targets: brokers.map(({ subject, broker }) => ({
            name: subject,
            url: broker.url,
            pid: broker.pid,
          })),
          identities,
          window: WINDOW,
          latencyRate: LATENCY_RATE,
          ...timing,
        };
        process.stderr.write(
          `  round ${round + 1}: ${brokers.map(({ subject, broker }) => `${subject} ${broker.url}`).join(', ')}\n`,
        );
        const r = JSON.parse(await runToEnd('load.js', [JSON.stringify(spec)], 300_000)) as LoadReport;
        for (const subject of SUBJECTS) {
          const measured = r[subject];
          if (measured === undefined) throw new Error(`the load generator reported nothing for ${subject}`);
          results[subject].push(measured);
          process.stderr.write(`  round ${round + 1} ${subject.padEnd(9)} ${describe(measured)}\n`);
        }
      } finally {
        await Promise.all(brokers.map(({ broker }) => broker.stop()));
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return summarise(results, opts.quick);
}

function describe(r: LoadReport[string]): string {
  const q = (k: 'qos0' | 'qos1') =>
    `${k} ${Math.round(r[k].msgsPerS)} msg/s (broker ${r[k].brokerCpuUsPerMsg.toFixed(1)} µs/msg, ` +
    `load ${Math.round(r[k].loadCpuPct)}% cpu, lost ${r[k].lost}) p99 ${r[k].p99Ms.toFixed(2)} ms`;
  return `${q('qos0')} | ${q('qos1')}`;
}

function summarise(results: Record<Subject, LoadReport[string][]>, quick: boolean): SuiteReport {
  const report = newReport('broker', quick);
  const put = (name: string, values: number[], unit: string) => {
    report.metrics[name] = { value: median(values), unit };
    report.rounds[name] = values;
  };
  for (const subject of SUBJECTS) {
    for (const qos of ['qos0', 'qos1'] as const) {
      const runs = results[subject].map((r) => r[qos]);
      put(
        `${subject}_${qos}_msgs_per_s`,
        runs.map((r) => r.msgsPerS),
        'msg/s',
      );
      put(
        `${subject}_${qos}_p99_ms`,
        runs.map((r) => r.p99Ms),
        'ms',
      );
      put(
        `${subject}_${qos}_cpu_us_per_msg`,
        runs.map((r) => r.brokerCpuUsPerMsg),
        'µs/msg',
      );
      if (qos === 'qos0')
        put(
          `${subject}_qos0_lost`,
          runs.map((r) => r.lost),
          'msgs',
        );
      // Kept with the raw rounds only: whether the load generator, not the broker, was the limit.
      report.rounds[`${subject}_${qos}_p50_ms`] = runs.map((r) => r.p50Ms);
      report.rounds[`${subject}_${qos}_load_cpu_pct`] = runs.map((r) => r.loadCpuPct);
    }
  }
  const ratio = (name: string, a: string, b: string, goal?: string) => {
    const m = (k: string) => report.metrics[k]?.value ?? Number.NaN;
    report.ratios[name] = { value: m(a) / m(b), of: `${a} / ${b}`, ...(goal === undefined ? {} : { goal }) };
    const ra = report.rounds[a] ?? [];
    const rb = report.rounds[b] ?? [];
    // Per-round ratios (neighbours in time), to show the spread behind the ratio of medians.
    report.rounds[name] = ra.map((v, i) => v / (rb[i] ?? Number.NaN));
  };
  ratio('hooks_cost', 'embedded_qos1_msgs_per_s', 'aedes_qos1_msgs_per_s', '≥ 0.9');
  ratio('hooks_cost_qos0', 'embedded_qos0_msgs_per_s', 'aedes_qos0_msgs_per_s', '≥ 0.9');
  ratio('vs_mosquitto', 'embedded_qos1_msgs_per_s', 'mosquitto_qos1_msgs_per_s');
  ratio('vs_mosquitto_qos0', 'embedded_qos0_msgs_per_s', 'mosquitto_qos0_msgs_per_s');
  ratio('hooks_cpu_per_msg', 'embedded_qos1_cpu_us_per_msg', 'aedes_qos1_cpu_us_per_msg');
  return report;
}

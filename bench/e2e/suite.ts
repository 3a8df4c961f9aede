import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchBrokerArgs, type ReadyChild, spawnReady } from '../lib/child.js';
import { median, newReport, type SuiteReport } from '../lib/report.js';
import { type LoadResult, LoadRig } from './load.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = path.join(ROOT, 'bin/fieldmesh.js');
const FLOOR = path.join(ROOT, 'dist/bench/e2e/floor.js');
const MANIFEST = path.join(ROOT, 'models/examples/vibration-ae/manifest.json');
const SENSORS = 16;
const SENSOR_PREFIX = 'bench/sensors/';
const LATENCY_RATE = 2000;

type Subject = 'agent' | 'floor';

interface SubjectRound {
  maxRate: number;
  p50Ms: number;
  p99Ms: number;
  rssMb: number;
}

/**
 * e2e: readings published through the embedded broker into the agent, results collected by
 * a subscriber — beside the floor (bench/e2e/floor.ts) with the same broker, model and load,
 * alternating which goes first in each round.
 */
export async function runE2eSuite(opts: { quick: boolean }): Promise<SuiteReport> {
  const rounds = opts.quick ? 2 : 3;
  const stepMs = opts.quick ? 1000 : 3000;
  const latencyMs = opts.quick ? 3000 : 8000;
  const firstRate = opts.quick ? 8000 : 4000;
  const work = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-e2e-'));
  const manifest = JSON.parse(await readFile(MANIFEST, 'utf8')) as {
    preprocessing?: { normalise?: { mean: number; std: number } };
  };
  const norm = manifest.preprocessing?.normalise ?? { mean: 0, std: 1 };
  const results: Record<Subject, SubjectRound[]> = { agent: [], floor: [] };
  try {
    for (let round = 0; round < rounds; round++) {
      const order: Subject[] = round % 2 === 0 ? ['floor', 'agent'] : ['agent', 'floor'];
      for (const subject of order) {
        // A fresh broker per measurement: the previous subject's overload step must not leave
        // the next one a broker still flushing backlogs or collecting garbage.
        const broker = await startBroker();
        const url = broker.url;
        const child =
          subject === 'agent'
            ? await startAgent(url, work, round)
            : await spawnReady(
                process.execPath,
                [
                  FLOOR,
                  url,
                  path.join(path.dirname(MANIFEST), 'model.onnx'),
                  String(norm.mean),
                  String(norm.std),
                  `${SENSOR_PREFIX}+`,
                  'bench/floor/results',
                ],
                { ready: /^ready$/, timeoutMs: 30_000 },
              );
        try {
          const r = await measure(url, subject, child, { stepMs, latencyMs, firstRate });
          results[subject].push(r);
          process.stderr.write(`  round ${round + 1} ${subject}: ${JSON.stringify(r)}\n`);
        } finally {
          await child.stop();
          await broker.child.stop();
        }
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return summarise(results, opts.quick);
}

async function startBroker(): Promise<{ child: ReadyChild; url: string }> {
  const child = await spawnReady(process.execPath, benchBrokerArgs(CLI), {
    ready: /broker listening/,
    timeoutMs: 15_000,
  });
  return { child, url: (JSON.parse(child.readyLine) as { url: string }).url };
}

async function startAgent(url: string, work: string, round: number): Promise<ReadyChild> {
  const config = path.join(work, `agent-${round}.yaml`);
  await writeFile(
    config,
    [
      `node: { name: bench-agent, dataDir: ${JSON.stringify(path.join(work, 'data'))} }`,
      'log: { level: info }',
      `mqtt: { url: ${JSON.stringify(url)}, clientId: bench-agent-${round} }`,
      `models: [{ id: vibration-ae, manifest: ${JSON.stringify(MANIFEST)}, threads: 1 }]`,
      'pipelines:',
      '  - id: bench',
      '    model: vibration-ae',
      `    input: { topic: "${SENSOR_PREFIX}+", field: value, timestampField: ts }`,
      '    window: { stride: 4 }',
      '    results: { topic: bench/agent/results, qos: 1 }',
      '',
    ].join('\n'),
  );
  return spawnReady(process.execPath, [CLI, 'agent', '--config', config], {
    ready: /agent ready/,
    timeoutMs: 30_000,
  });
}

async function measure(
  url: string,
  subject: Subject,
  child: ReadyChild,
  { stepMs, latencyMs, firstRate }: { stepMs: number; latencyMs: number; firstRate: number },
) {
  const rig = new LoadRig({
    url,
    sensorPrefix: SENSOR_PREFIX,
    resultTopic: `bench/${subject}/results`,
    sensors: SENSORS,
  });
  await rig.start();
  try {
    await rig.run(LATENCY_RATE, 1000, () => child.rssMb()); // warm-up: JIT, session arenas, broker routes
    const latency = await rig.run(LATENCY_RATE, latencyMs, () => child.rssMb());
    let maxRate = 0;
    let rssMb = latency.peakRssMb;
    // Step the rate up by a quarter until a run loses a result or falls behind; the last sustained rate counts.
    for (let rate = firstRate; rate <= 200_000; rate = Math.round(rate * 1.25)) {
      let step: LoadResult = await rig.run(rate, stepMs, () => child.rssMb());
      // One noisy step on a shared machine should not end the search: a rate fails only twice.
      if (!step.sustained) step = await rig.run(rate, stepMs, () => child.rssMb());
      process.stderr.write(
        `    ${subject} ${step.rate} msg/s: ${step.received}/${step.expected} results, p99 ${step.p99Ms.toFixed(1)} ms\n`,
      );
      if (!step.sustained) break;
      maxRate = step.rate;
      rssMb = Math.max(rssMb, step.peakRssMb);
    }
    return { maxRate, p50Ms: latency.p50Ms, p99Ms: latency.p99Ms, rssMb };
  } finally {
    await rig.stop();
  }
}

function summarise(results: Record<Subject, SubjectRound[]>, quick: boolean): SuiteReport {
  const report = newReport('e2e', quick);
  const pick = (s: Subject, k: keyof SubjectRound) => results[s].map((r) => r[k]);
  const put = (name: string, values: number[], unit: string) => {
    report.metrics[name] = { value: median(values), unit };
    report.rounds[name] = values;
  };
  put('agent_msgs_per_s', pick('agent', 'maxRate'), 'msg/s');
  put('agent_p50_ms', pick('agent', 'p50Ms'), 'ms');
  put('agent_p99_ms', pick('agent', 'p99Ms'), 'ms');
  put('floor_msgs_per_s', pick('floor', 'maxRate'), 'msg/s');
  put('floor_p50_ms', pick('floor', 'p50Ms'), 'ms');
  put('floor_p99_ms', pick('floor', 'p99Ms'), 'ms');
  put('rss_mb', pick('agent', 'rssMb'), 'MB');
  put('floor_rss_mb', pick('floor', 'rssMb'), 'MB');
  const m = (k: string) => report.metrics[k]?.value ?? Number.NaN;
  report.ratios.throughput_vs_floor = {
    value: m('agent_msgs_per_s') / m('floor_msgs_per_s'),
    of: 'agent_msgs_per_s / floor_msgs_per_s',
    goal: '≥ 0.9',
  };
  report.ratios.p99_vs_floor = {
    value: m('agent_p99_ms') / m('floor_p99_ms'),
    of: 'agent_p99_ms / floor_p99_ms',
    goal: '≤ 1.5',
  };
  return report;
}

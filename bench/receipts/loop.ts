import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LoadRig } from '../e2e/load.js';
import { benchBrokerArgs, type ReadyChild, spawnReady } from '../lib/child.js';
import { CLI, MANIFEST } from './jobs.js';

/** The fixed load: a sixth of what the agent sustains on the bench machine (bench/README.md e2e). */
export const LOOP_RATE = 4000;
const SENSORS = 16;

export type LoopSubject = 'with' | 'without';

/** Agent CPU per sensor reading, µs, one figure per round. */
export interface LoopCpu {
  /** The whole process. */
  total: number[];
  /** The event-loop thread alone (the rest: onnxruntime, leveldb, GC helper threads). */
  main: number[];
}

export interface LoopRounds {
  with: LoopCpu;
  without: LoopCpu;
  /** Receipts the settlement service acknowledged, at the end (proof the receipts went all the way). */
  acknowledged: number;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * utime + stime, seconds, from /proc (Linux): of the whole process (every thread: onnxruntime's,
 * leveldb's, the GC's), or with `mainThread` of the thread that runs the event loop only.
 */
export function processCpuSeconds(pid: number | undefined, mainThread = false): number {
  if (pid === undefined) return Number.NaN;
  const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses; the fields after the last ")" do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), counted from the state (field 3) here.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * loop_with_receipts_vs_without: two agents, identical but for the settlement section, on one
 * embedded broker; the "with" agent sends its batches to a real `fieldmesh settlement`. Each
 * measurement loads one agent (the other idles) with the same fixed load, and counts that
 * agent's CPU time per reading published, over a window that starts after a warm-up and ends
 * once every result of the window's readings has arrived. Rounds alternate which goes first.
 */
export async function measureLoop(opts: {
  rounds: number;
  warmupMs: number;
  measureMs: number;
}): Promise<LoopRounds> {
  const work = await mkdtemp(path.join(tmpdir(), 'fieldmesh-bench-receipts-loop-'));
  const children: ReadyChild[] = [];
  try {
    const { brokerUrl, agentOf } = await startProcesses(work, children);
    const out: LoopRounds = {
      with: { total: [], main: [] },
      without: { total: [], main: [] },
      acknowledged: 0,
    };
    // The first minutes of an agent are its slowest (JIT, arenas, leveldb's first files, the
    // service's first batches): both get a longer warm-up before the first round counts.
    for (const subject of ['without', 'with'] as const) {
      await measureOne(subject, 'w-', agentOf[subject], brokerUrl, {
        warmupMs: 2 * opts.warmupMs,
        measureMs: 0,
      });
    }
    for (let round = 0; round < opts.rounds; round++) {
      const order: LoopSubject[] = round % 2 === 0 ? ['without', 'with'] : ['with', 'without'];
      for (const subject of order) {
        const cpu = await measureOne(subject, `m${round}-`, agentOf[subject], brokerUrl, opts);
        out[subject].total.push(cpu.total);
        out[subject].main.push(cpu.main);
      }
    }
    out.acknowledged = await acknowledged(path.join(work, 'data-with'));
    return out;
  } finally {
    for (const c of children.reverse()) await c.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Settlement service, broker and the two agents; each started child is pushed onto `children`. */
async function startProcesses(
  work: string,
  children: ReadyChild[],
): Promise<{ brokerUrl: string; agentOf: Record<LoopSubject, ReadyChild> }> {
  // Kept as each one is ready, so that a failure of another still stops it.
  const kept = (c: Promise<ReadyChild>) =>
    c.then((child) => {
      children.push(child);
      return child;
    });
  const [settlement, broker] = await Promise.all([
    kept(
      spawnReady(
        process.execPath,
        [CLI, 'settlement', '--port', '0', '--data-dir', path.join(work, 'settlement'), '--model', MANIFEST],
        { ready: /settlement service listening/, timeoutMs: 60_000 },
      ),
    ),
    kept(
      spawnReady(process.execPath, benchBrokerArgs(CLI), {
        ready: /broker listening/,
        timeoutMs: 15_000,
      }),
    ),
  ]);
  const settlementUrl = (JSON.parse(settlement.readyLine) as { url: string }).url;
  const service = (await (await fetch(`${settlementUrl}/v1/service`)).json()) as { publicKey: string };
  const brokerUrl = (JSON.parse(broker.readyLine) as { url: string }).url;
  const [withAgent, withoutAgent] = await Promise.all([
    kept(startAgent('with', work, brokerUrl, { url: settlementUrl, key: service.publicKey })),
    kept(startAgent('without', work, brokerUrl, null)),
  ]);
  return { brokerUrl, agentOf: { with: withAgent, without: withoutAgent } };
}

/** One measurement; the rig connects afresh each time (both rigs would share MQTT client ids). */
async function measureOne(
  subject: LoopSubject,
  /** Makes the sensor names of this measurement new to the agent: no window carries over. */
  sensorTag: string,
  agent: ReadyChild,
  brokerUrl: string,
  opts: { warmupMs: number; measureMs: number },
): Promise<{ total: number; main: number }> {
  const rig = new LoadRig({
    url: brokerUrl,
    sensorPrefix: `${sensorPrefix(subject)}${sensorTag}`,
    resultTopic: resultTopic(subject),
    sensors: SENSORS,
  });
  await rig.start();
  try {
    const rss = () => agent.rssMb();
    await rig.run(LOOP_RATE, opts.warmupMs, rss);
    if (opts.measureMs === 0) return { total: Number.NaN, main: Number.NaN };
    const pid = agent.proc.pid;
    const [total0, main0] = [processCpuSeconds(pid), processCpuSeconds(pid, true)];
    const r = await rig.run(LOOP_RATE, opts.measureMs, rss);
    const total = ((processCpuSeconds(pid) - total0) * 1e6) / r.sent;
    const main = ((processCpuSeconds(pid, true) - main0) * 1e6) / r.sent;
    process.stderr.write(
      `  ${subject}: ${total.toFixed(1)} µs/reading (event loop ${main.toFixed(1)}), ${r.received}/${r.expected} results, p99 ${r.p99Ms.toFixed(1)} ms${r.sustained ? '' : '  (NOT sustained)'}\n`,
    );
    return { total, main };
  } finally {
    await rig.stop();
  }
}

const sensorPrefix = (s: LoopSubject) => `bench/receipts/${s}/sensors/`;
const resultTopic = (s: LoopSubject) => `bench/receipts/${s}/results`;

async function startAgent(
  subject: LoopSubject,
  work: string,
  brokerUrl: string,
  settlement: { url: string; key: string } | null,
): Promise<ReadyChild> {
  const config = path.join(work, `agent-${subject}.yaml`);
  const lines = [
    `node: { name: bench-${subject}, dataDir: ${JSON.stringify(path.join(work, `data-${subject}`))} }`,
    'log: { level: info }',
    `mqtt: { url: ${JSON.stringify(brokerUrl)}, clientId: bench-receipts-${subject} }`,
    `models: [{ id: vibration-ae, manifest: ${JSON.stringify(MANIFEST)}, threads: 1 }]`,
    'pipelines:',
    '  - id: bench',
    '    model: vibration-ae',
    `    input: { topic: "${sensorPrefix(subject)}+", field: value, timestampField: ts }`,
    '    window: { stride: 4 }',
    `    results: { topic: ${resultTopic(subject)}, qos: 1 }`,
  ];
  if (settlement) {
    lines.push(
      `settlement: { url: ${JSON.stringify(settlement.url)}, servicePublicKey: ${JSON.stringify(settlement.key)} }`,
    );
  }
  await writeFile(config, `${lines.join('\n')}\n`);
  return spawnReady(process.execPath, [CLI, 'agent', '--config', config], {
    ready: /agent ready/,
    timeoutMs: 30_000,
  });
}

/** Receipts acknowledged so far, from the agent's status/receipts.json (rewritten every 2 s). */
async function acknowledged(dataDir: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 2_500));
  try {
    const status = JSON.parse(readFileSync(path.join(dataDir, 'status', 'receipts.json'), 'utf8')) as {
      receipts?: { acknowledgedReceipts?: number };
    };
    return status.receipts?.acknowledgedReceipts ?? 0;
  } catch {
    return Number.NaN;
  }
}

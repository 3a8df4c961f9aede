import { setTimeout as sleep } from 'node:timers/promises';
import { type LoadResult, LoadRig } from '../e2e/load.js';
import { median } from '../lib/report.js';
import { RESULT_TOPIC, SENSOR_PREFIX } from './agent-config.js';
import { memoryStatus, type RssSample, RssSampler, residentByMapping, soakGrowth } from './rss.js';
import {
  type Setup,
  type Subject,
  type SubjectName,
  startAgent,
  startBare,
  startSubject,
} from './subjects.js';

export const SENSORS = 16;
/** The executable (the SEA, or the baseline's node) and onnxruntime's library, in smaps. */
const MAPPINGS = { exe: /(fieldmesh-[\d.]+-linux-x64|\/bin\/node)$/, ort: /libonnxruntime\.so/ };

/** One subject's figures from one round. */
export interface RoundFigures {
  startMs: number;
  idleRssMb: number;
  idleAnonMb: number;
  idleFileMb: number;
  idleExeMb: number;
  idleOrtMb: number;
  threads: number;
  loadRssMaxMb: number;
  loadRssMedianMb: number;
  /** Agent only: results lost in the load phase (the baseline has none to lose). */
  lost: number;
}

export interface Phases {
  settleMs: number;
  idleMs: number;
  loadMs: number;
}

/** Starts one subject, lets it settle, samples it idle, then under load; stops it. */
export async function measureRound(name: SubjectName, setup: Setup, phases: Phases): Promise<RoundFigures> {
  const subject = await startSubject(name, setup);
  try {
    await sleep(phases.settleMs);
    const idle = await sampleFor(subject.pid, phases.idleMs, 250);
    const status = memoryStatus(subject.pid);
    const maps = residentByMapping(subject.pid, MAPPINGS);
    const { samples, lost } = await underLoad(subject, setup, phases.loadMs, 250);
    const load = samples.map((s) => s.rssMb);
    return {
      startMs: subject.startMs,
      idleRssMb: median(idle.map((s) => s.rssMb)),
      idleAnonMb: status?.anonMb ?? Number.NaN,
      idleFileMb: status?.fileMb ?? Number.NaN,
      idleExeMb: maps.exe ?? Number.NaN,
      idleOrtMb: maps.ort ?? Number.NaN,
      threads: status?.threads ?? Number.NaN,
      loadRssMaxMb: Math.max(...load),
      loadRssMedianMb: median(load),
      lost,
    };
  } finally {
    await subject.child.stop();
  }
}

async function sampleFor(pid: number, ms: number, intervalMs: number): Promise<RssSample[]> {
  const sampler = new RssSampler(pid, intervalMs).start();
  await sleep(ms);
  return sampler.stop();
}

/**
 * The agent gets the e2e rig's readings on its own broker; the baseline is told (SIGUSR2) to
 * run its model at the same window rate. RSS is sampled throughout.
 */
async function underLoad(
  subject: Subject,
  setup: Setup,
  ms: number,
  intervalMs: number,
): Promise<{ samples: RssSample[]; lost: number; result?: LoadResult }> {
  if (subject.name === 'bare') {
    subject.child.proc.kill('SIGUSR2');
    return { samples: await sampleFor(subject.pid, ms, intervalMs), lost: 0 };
  }
  const rig = loadRig(subject.brokerUrl as string);
  await rig.start();
  try {
    const sampler = new RssSampler(subject.pid, intervalMs).start();
    const result = await rig.run(setup.readingsPerS, ms, () => subject.child.rssMb());
    return { samples: sampler.stop(), lost: result.expected - result.received, result };
  } finally {
    await rig.stop();
  }
}

/** The e2e load generator on the agent's broker, with this suite's sensors and topics. */
function loadRig(url: string): LoadRig {
  return new LoadRig({ url, sensorPrefix: SENSOR_PREFIX, resultTopic: RESULT_TOPIC, sensors: SENSORS });
}

export interface SoakFigures {
  agent: { firstMb: number; lastMb: number; pct: number };
  bare: { firstMb: number; lastMb: number; pct: number };
  sent: number;
  lost: number;
  p99Ms: number;
  samples: { agent: number[]; bare: number[] };
}

/**
 * The agent under the load for `soakS` seconds, one run of the rig (the same 16 sensors all the
 * way, so no per-sensor state is added as it goes), with the baseline running its model at the
 * same window rate beside it (a few % of a core), both sampled every `intervalS`.
 */
export async function soak(
  setup: Setup,
  soakS: number,
  intervalS: number,
  settleMs: number,
): Promise<SoakFigures> {
  const agent = await startAgent(setup);
  const bare = await startBare(setup).catch(async (err: unknown) => {
    await agent.child.stop();
    throw err;
  });
  try {
    await sleep(settleMs);
    const rig = loadRig(agent.brokerUrl as string);
    await rig.start();
    const agentSampler = new RssSampler(agent.pid, intervalS * 1000).start();
    const bareSampler = new RssSampler(bare.pid, intervalS * 1000).start();
    bare.child.proc.kill('SIGUSR2');
    let result: LoadResult;
    try {
      result = await rig.run(setup.readingsPerS, soakS * 1000, () => agent.child.rssMb());
    } finally {
      await rig.stop();
    }
    // The rig drains after its last reading; the samples taken while it drained are kept.
    const a = agentSampler.stop();
    const b = bareSampler.stop();
    return {
      agent: soakGrowth(a, soakS),
      bare: soakGrowth(b, soakS),
      sent: result.sent,
      lost: result.expected - result.received,
      p99Ms: result.p99Ms,
      samples: { agent: a.map((s) => s.rssMb), bare: b.map((s) => s.rssMb) },
    };
  } finally {
    await Promise.all([agent.child.stop(), bare.child.stop()]);
  }
}

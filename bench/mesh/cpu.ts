import { readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of a process (every thread) or of one of its threads, ms; NaN once it is gone. */
export function cpuMs(pid: number | undefined, tid?: number): number {
  if (pid === undefined) return Number.NaN;
  const file = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  try {
    // Fields after the command name, which may hold spaces: state is [0], utime [11], stime [12].
    const rest = readFileSync(file, 'utf8').split(') ').at(-1)?.split(' ') ?? [];
    return (Number(rest[11]) + Number(rest[12])) * TICK_MS;
  } catch {
    return Number.NaN;
  }
}

export interface CpuSubject {
  readonly name: string;
  readonly pid: number | undefined;
}

/**
 * CPU each subject used while `fn` ran, as % of one core: the whole process, and its main
 * (event-loop) thread alone; for an agent the difference is mostly onnxruntime's thread.
 */
export async function cpuDuring<T>(
  subjects: readonly CpuSubject[],
  fn: () => Promise<T>,
): Promise<{ result: T; pct: Record<string, number> }> {
  const sample = () => subjects.map((s) => [cpuMs(s.pid), cpuMs(s.pid, s.pid)] as const);
  const before = sample();
  const self = process.cpuUsage();
  const started = performance.now();
  const result = await fn();
  const wall = performance.now() - started;
  const after = sample();
  const selfUs = process.cpuUsage(self);
  const pct: Record<string, number> = { rig: ((selfUs.user + selfUs.system) / 1000 / wall) * 100 };
  subjects.forEach((s, i) => {
    const [total0, main0] = before[i] as readonly [number, number];
    const [total1, main1] = after[i] as readonly [number, number];
    pct[s.name] = ((total1 - total0) / wall) * 100;
    pct[`${s.name}_loop`] = ((main1 - main0) / wall) * 100;
  });
  return { result, pct };
}

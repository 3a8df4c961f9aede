import { readFileSync } from 'node:fs';
import { median } from '../lib/report.js';

/**
 * Resident memory of a whole process, read from /proc (Linux). VmRSS covers every thread of
 * the process (onnxruntime's, libuv's, V8's, worker threads), since they share one address space.
 */
export interface MemoryStatus {
  rssMb: number;
  /** Anonymous pages: the JS heap, native allocations, onnxruntime's arena, thread stacks. */
  anonMb: number;
  /** Pages of mapped files that are resident: the executable, libonnxruntime, other libraries. */
  fileMb: number;
  threads: number;
}

export function memoryStatus(pid: number): MemoryStatus | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null; // the process is gone
  }
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return {
    rssMb: kb('VmRSS') / 1024,
    anonMb: kb('RssAnon') / 1024,
    fileMb: (kb('RssFile') + kb('RssShmem')) / 1024,
    threads: kb('Threads'),
  };
}

/**
 * Resident MB of the mappings whose path matches each pattern, from /proc/<pid>/smaps: where
 * the file-backed part of the RSS goes (the Node executable, onnxruntime's library).
 */
export function residentByMapping(pid: number, patterns: Record<string, RegExp>): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(Object.keys(patterns).map((k) => [k, 0]));
  let smaps: string;
  try {
    smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return out;
  }
  let current: string | null = null;
  for (const line of smaps.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      const file = header[1] ?? '';
      current = Object.keys(patterns).find((k) => (patterns[k] as RegExp).test(file)) ?? null;
      continue;
    }
    if (current === null) continue;
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) out[current] = (out[current] as number) + Number(rss[1]) / 1024;
  }
  return out;
}

export interface RssSample {
  /** Seconds since the sampler started. */
  atS: number;
  rssMb: number;
}

/** Samples a process's VmRSS every `intervalMs` until stopped. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly started = performance.now();

  constructor(
    private readonly pid: number,
    private readonly intervalMs: number,
  ) {}

  start(): this {
    this.take();
    this.timer = setInterval(() => this.take(), this.intervalMs);
    return this;
  }

  stop(): RssSample[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.take();
    return this.samples;
  }

  private take(): void {
    const s = memoryStatus(this.pid);
    if (s) this.samples.push({ atS: (performance.now() - this.started) / 1000, rssMb: s.rssMb });
  }
}

/** How the soak's RSS figure is read: a warm-up, then the first and the last window compared. */
export interface SoakWindows {
  warmupS: number;
  windowS: number;
}

/** One minute of warm-up and one-minute windows for a 10-minute soak; shorter soaks scale down. */
export function soakWindows(soakS: number): SoakWindows {
  const warmupS = Math.min(60, soakS / 6);
  return { warmupS, windowS: Math.min(60, (soakS - warmupS) / 3) };
}

/**
 * RSS growth over a soak, %: (median of the last window − median of the first window after the
 * warm-up) / the first. NaN when either window holds no sample.
 */
export function soakGrowth(
  samples: readonly RssSample[],
  soakS: number,
): { firstMb: number; lastMb: number; pct: number } {
  const { warmupS, windowS } = soakWindows(soakS);
  const end = samples.at(-1)?.atS ?? 0;
  const first = samples.filter((s) => s.atS >= warmupS && s.atS < warmupS + windowS).map((s) => s.rssMb);
  const last = samples.filter((s) => s.atS > end - windowS).map((s) => s.rssMb);
  const firstMb = median(first);
  const lastMb = median(last);
  return { firstMb, lastMb, pct: ((lastMb - firstMb) / firstMb) * 100 };
}

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

export interface Metric {
  value: number;
  unit: string;
}
export interface Ratio {
  value: number;
  of: string;
  goal?: string;
}
export interface SuiteReport {
  suite: string;
  at: string;
  node: string;
  cpus: number;
  quick: boolean;
  metrics: Record<string, Metric>;
  ratios: Record<string, Ratio>;
  /** Every round's raw figures, so a reader can see the spread behind each median. */
  rounds: Record<string, number[]>;
}

export const RESULTS_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile of an unsorted sample. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank] as number;
}

export function newReport(suite: string, quick: boolean): SuiteReport {
  return {
    suite,
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    quick,
    metrics: {},
    ratios: {},
    rounds: {},
  };
}

export async function writeReport(report: SuiteReport): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}${report.suite}.json`;
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

export function formatReport(report: SuiteReport): string {
  const rows: string[] = [
    `suite ${report.suite}  (${report.quick ? 'quick' : 'full'}, node ${report.node}, ${report.cpus} cpus)`,
  ];
  for (const [name, m] of Object.entries(report.metrics)) {
    const spread = report.rounds[name];
    const extra = spread && spread.length > 1 ? `   rounds: ${spread.map((v) => round(v)).join(', ')}` : '';
    rows.push(`  ${name.padEnd(26)} ${String(round(m.value)).padStart(10)} ${m.unit}${extra}`);
  }
  for (const [name, r] of Object.entries(report.ratios)) {
    rows.push(
      `  ${name.padEnd(26)} ${String(round(r.value)).padStart(10)}   = ${r.of}${r.goal ? `   (goal ${r.goal})` : ''}`,
    );
  }
  return rows.join('\n');
}

export function round(v: number): number {
  if (!Number.isFinite(v)) return v;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 1 ? 2 : 3;
  return Number(v.toFixed(digits));
}

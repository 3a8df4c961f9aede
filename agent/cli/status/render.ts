import type { PipelineStats } from '../../pipeline/pipeline.js';
import { activityText } from '../activity-line.js';
import type { Style } from '../style.js';
import type { NodeReport } from './client.js';

/**
 * The one-screen summary of `fieldmesh status`: pure, report in, lines out. Every line fits
 * `width` columns and long lists end in "… and N more", so a typical node fits a 80x24
 * terminal and a big one still fits a screen.
 */

const MAX_PIPELINES = 6;
const MAX_MODELS = 4;
const MAX_FAILURES = 3;
const MAX_ACTIVITIES = 3;
const TOP_REASONS = 3;

const LABEL = 11;

export function renderReport(r: NodeReport, s: Style, width = 80): string[] {
  const row = (label: string, text: string) => `${s.bold(label.padEnd(LABEL))}${text}`;
  const lines = [
    row('node', `${r.node.name}  ${s.dim(`version ${r.node.version}`)}${uptime(r.uptimeSeconds)}`),
    row('id', r.node.id),
    row('api', r.url),
    row(
      'ready',
      r.ready ? s.green('yes') : s.red(`no: ${r.reasons.join('; ') || 'the node gave no reason'}`),
    ),
    row('mqtt', `${r.mqtt.connected ? s.green('connected') : s.red('disconnected')}  ${r.mqtt.url}`),
    row('broker', r.broker ? `${r.broker.url} (embedded)` : s.dim('none embedded')),
    ...failures(r, s, row),
    ...pipelines(r, s, row, width),
    ...models(r, row),
    row('peers', peers(r)),
    row('receipts', receipts(r, s)),
    ...activities(r, s, row),
  ];
  return lines.map((line) => fitWidth(line, width));
}

type Row = (label: string, text: string) => string;

function uptime(seconds: number | undefined): string {
  if (seconds === undefined) return '';
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const sec = seconds % 60;
  const text = d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${pad(m)}m` : m > 0 ? `${m}m ${pad(sec)}s` : `${sec}s`;
  return `  up ${text}`;
}

const pad = (n: number) => String(n).padStart(2, '0');

function failures(r: NodeReport, s: Style, row: Row): string[] {
  const shown = r.failures
    .slice(0, MAX_FAILURES)
    .map((f, i) => row(i === 0 ? 'failures' : '', s.red(`${f.part}: ${f.message}`)));
  return [...shown, ...more(r.failures.length - shown.length, 'failures', row)];
}

const ID_WIDTH = 22;
const COLUMNS = [
  ['readings', 9],
  ['results', 9],
  ['anomalies', 11],
  ['queue', 7],
] as const;

/** A table: one row of counters per pipeline, then its latency and rejections when it has any. */
function pipelines(r: NodeReport, s: Style, row: Row, width: number): string[] {
  if (r.pipelines.length === 0) return [row('pipelines', s.yellow('none running'))];
  const running = r.pipelines.filter((p) => p.state === 'running').length;
  const idWidth = Math.min(ID_WIDTH, Math.max(8, ...r.pipelines.map((p) => p.id.length)));
  const header = `  ${'id'.padEnd(idWidth)} ${'state'.padEnd(11)}${COLUMNS.map(([n, w]) => n.padStart(w)).join('')}`;
  const lines = [row('pipelines', `${running} of ${r.pipelines.length} running`), s.dim(header)];
  for (const p of r.pipelines.slice(0, MAX_PIPELINES)) {
    const calibrating = p.state === 'running' && p.calibration && p.calibration.state !== 'calibrated';
    const stateText = (calibrating ? 'calibrating' : p.state).padEnd(11);
    const state = p.state === 'running' && !calibrating ? s.green(stateText) : s.yellow(stateText);
    // A long id is cut so that the counters, what the operator came for, stay on screen.
    const id = p.id.length > idWidth ? `${p.id.slice(0, idWidth - 1)}…` : p.id.padEnd(idWidth);
    const counts = [p.readings, p.results, p.anomalies, p.queueDepth];
    lines.push(
      `  ${s.bold(id)} ${state}${counts.map((n, i) => compact(n).padStart(COLUMNS[i]?.[1] ?? 8)).join('')}`,
    );
    const timing = latency(r, p.id);
    const detail = [timing, rejected(p, width - 4 - (timing ? timing.length + 2 : 0))];
    const text = detail.filter((t) => t !== '').join('  ');
    if (text !== '') lines.push(`    ${text}`);
  }
  return [...lines, ...more(r.pipelines.length - MAX_PIPELINES, 'pipelines', row)];
}

/** 1234 → "1234", 123456 → "123.5k", 12345678 → "12.3M": counters keep their column. */
function compact(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  if (n < 1_000_000_000) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e9).toFixed(1)}G`;
}

/** "rejected 11 (out_of_order 7, not_a_number 2, …)": the biggest reasons that fit `room`. */
function rejected(p: PipelineStats, room: number): string {
  const entries = Object.entries(p.rejected)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return '';
  const head = `rejected ${total}`;
  const shown: string[] = [];
  for (const [reason, n] of entries.slice(0, TOP_REASONS)) {
    const next = [...shown, `${reason} ${n}`];
    if (`${head} (${next.join(', ')}, …)`.length > room) break;
    shown.push(`${reason} ${n}`);
  }
  if (shown.length === 0) return head;
  return `${head} (${shown.join(', ')}${entries.length > shown.length ? ', …' : ''})`;
}

function latency(r: NodeReport, pipeline: string): string {
  const l = r.inferenceLatency[pipeline];
  if (l === undefined) return '';
  return `p50 ${ms(l.p50Ms)}  p95 ${ms(l.p95Ms)}`;
}

const ms = (n: number) => `${n < 10 ? n.toFixed(2) : n.toFixed(0)} ms`;

function models(r: NodeReport, row: Row): string[] {
  if (r.models.length === 0) return [row('models', 'none loaded')];
  const shown = r.models.slice(0, MAX_MODELS).map((m, i) => {
    // The status may carry the backend (native or wasm) that runs the model; older agents do not.
    const backend = (m as { backend?: unknown }).backend;
    const extra = typeof backend === 'string' ? ` (${backend})` : '';
    return row(
      i === 0 ? 'models' : '',
      `${m.id} ${m.version}${extra}${m.shadow ? ` shadow ${m.shadow.version}` : ''}`,
    );
  });
  return [...shown, ...more(r.models.length - shown.length, 'models', row)];
}

function peers(r: NodeReport): string {
  if (!r.mesh) return 'mesh off';
  const list = Array.isArray(r.mesh.peers) ? (r.mesh.peers as { id?: string; name?: string }[]) : [];
  if (list.length === 0) return '0';
  const names = list.map((p) => p.name || p.id?.slice(0, 16) || '?');
  // Names until the line is full; the rest counted, so the line never wraps.
  const shown: string[] = [];
  let used = 0;
  for (const name of names) {
    if (used + name.length + 2 > 50) break;
    shown.push(name);
    used += name.length + 2;
  }
  const rest = names.length - shown.length;
  return `${list.length}: ${shown.join(', ')}${rest > 0 ? ` … and ${rest} more` : ''}`;
}

function receipts(r: NodeReport, s: Style): string {
  if (!r.receipts) return s.dim('off (no settlement section)');
  const x = r.receipts;
  const error = x.lastError ? `  ${s.red(`last error ${x.lastError.code}`)}` : '';
  return `${x.pending} pending, ${x.acknowledgedReceipts} acknowledged${error}`;
}

/** In-flight operations as bars; a finished one stays a line until the agent drops it. */
function activities(r: NodeReport, s: Style, row: Row): string[] {
  const list = (r.activities ?? []).slice(0, MAX_ACTIVITIES);
  return list.map((a, i) => {
    const text = activityText(a);
    return row(
      i === 0 ? 'activity' : '',
      a.state === 'failed' ? s.red(text) : a.state === 'done' ? s.dim(text) : text,
    );
  });
}

function more(n: number, what: string, row: Row): string[] {
  return n > 0 ? [row('', `… and ${n} more ${what}`)] : [];
}

/** Cuts a line to `width` visible columns (ANSI escapes take none), marking the cut with "…". */
export function fitWidth(line: string, width: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ESC byte starts an ANSI escape
  const tokens = [...line.matchAll(/\u001b\[[0-9;]*m|[^\u001b]/gu)].map((m) => m[0]);
  const isEscape = (t: string) => t.startsWith('\u001b');
  if (tokens.filter((t) => !isEscape(t)).length <= width) return line;
  let visible = 0;
  let out = '';
  for (const t of tokens) {
    if (isEscape(t)) out += t;
    else if (visible < width - 1) {
      out += t;
      visible++;
    }
  }
  return `${out}…${tokens.some(isEscape) ? '\u001b[0m' : ''}`;
}

import type { ViewState } from './live-view.js';
import type { FaultPlan } from './simulator.js';

export interface RenderInput {
  state: ViewState;
  elapsedS: number;
  published: number;
  activeFaults: FaultPlan[];
  pipelines: string[];
  colour: boolean;
  brokerUrl: string;
  nodeId: string;
  nodeName?: string;
  receipts?: ReceiptsLine;
  /** The demo's other nodes: they joined over mDNS and run windows for the gateway. */
  peers?: readonly PeerLine[];
}

/** A peer of the demo site: who it is, what it is doing and what it has been credited. */
export interface PeerLine {
  name: string;
  nodeId: string;
  /** Verified peers it sees, by name. */
  sees: readonly string[];
  receipts?: ReceiptsLine;
}

/** The agent's receipt counts and what the settlement service credited. */
export interface ReceiptsLine {
  made: number;
  acknowledged: number;
  pending: number;
  reachable: boolean;
  credited: number;
  pendingCredit: number;
  voided: number;
  openChallenges: number;
  epoch: number | null;
}

export function formatReceipts(r: ReceiptsLine): string {
  const service = r.reachable
    ? `credited ${r.credited} (epoch ${r.epoch ?? '-'}), awaiting epoch ${r.pendingCredit}, voided ${r.voided}, spot checks open ${r.openChallenges}`
    : 'settlement service unreachable: receipts wait in the outbox';
  return `receipts made ${r.made}   acknowledged ${r.acknowledged}   in outbox ${r.pending}   ${service}`;
}

const BAR = 12;

/** One screen of the live view as text; pure, so it is tested without a terminal. */
export function renderScreen(r: RenderInput): string {
  const c = colours(r.colour);
  const lines: string[] = [];
  lines.push(
    `${c.bold('fieldmesh demo')}  ${r.elapsedS.toFixed(0)} s   broker ${r.brokerUrl}   node ${r.nodeName ?? ''} ${r.nodeId.slice(0, 16)}…`,
  );
  lines.push(
    `readings ${r.published}   results ${r.state.results}   anomalous windows ${r.state.anomalies}   rejected ${sum(r.state.rejected)}`,
  );
  if (r.receipts) lines.push(formatReceipts(r.receipts));
  for (const p of r.peers ?? []) lines.push(...peerLines(p, r.state.ranOn.get(p.nodeId) ?? 0, c.bold));
  lines.push('');
  lines.push(`${'machine'.padEnd(10)}${r.pipelines.map((p) => p.padEnd(32)).join('')}injected fault`);
  for (const [machine, sensors] of [...r.state.machines].sort(([a], [b]) => a.localeCompare(b))) {
    let row = machine.padEnd(10);
    for (const p of r.pipelines) {
      const v = sensors.get(p);
      if (!v) {
        row += 'waiting for a window'.padEnd(32);
        continue;
      }
      const cell = `${bar(v.score, v.threshold)} ${v.score.toFixed(3).padStart(7)} ${v.anomaly ? 'ANOMALY' : 'ok     '}`;
      row += (v.anomaly ? c.red(cell) : c.green(cell)) + ' '.repeat(Math.max(0, 32 - cell.length));
    }
    const faults = r.activeFaults.filter((f) => f.machine === machine).map((f) => `${f.kind}:${f.type}`);
    row += faults.length > 0 ? c.yellow(faults.join(', ')) : '-';
    lines.push(row);
  }
  lines.push('');
  lines.push(c.bold('recent detections'));
  const recent = r.state.detections.slice(-5).reverse();
  if (recent.length === 0) lines.push('  none yet');
  for (const d of recent) {
    const when = new Date(d.at).toISOString().slice(11, 19);
    lines.push(
      `  ${when}  ${d.machine.padEnd(10)} ${d.pipeline.padEnd(12)} score ${d.score.toFixed(3)} > ${d.threshold.toFixed(3)}`,
    );
  }
  if (r.state.rejected.size > 0) {
    lines.push('');
    lines.push(`rejected readings: ${[...r.state.rejected].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  return lines.join('\n');
}

function peerLines(p: PeerLine, ran: number, bold: (s: string) => string): string[] {
  const sees = p.sees.length > 0 ? `sees ${p.sees.join(', ')}` : 'looking for peers (mDNS)';
  return [
    `${bold(p.name)} ${p.nodeId.slice(0, 16)}…   ${sees}   ran ${ran} windows for the gateway`,
    ...(p.receipts ? [`  ${formatReceipts(p.receipts)}`] : []),
  ];
}

/** Score as a bar against the threshold, which sits at three quarters of the bar. */
function bar(score: number, threshold: number | undefined): string {
  const scale = threshold && threshold > 0 ? threshold / 0.75 : 1;
  const n = Math.max(0, Math.min(BAR, Math.round((score / scale) * BAR)));
  return `[${'#'.repeat(n)}${' '.repeat(BAR - n)}]`;
}

function sum(m: Map<string, number>): number {
  let total = 0;
  for (const v of m.values()) total += v;
  return total;
}

function colours(on: boolean) {
  const wrap = (code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { bold: wrap('1'), red: wrap('31'), green: wrap('32'), yellow: wrap('33') };
}

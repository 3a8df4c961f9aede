import { renderActivities } from './activities.js';
import { createChart, drawChart } from './chart.js';
import { byId, el, formatScore, formatTime } from './dom.js';
import { renderEpochs } from './epochs.js';
import { ScoreSeries } from './series.js';
import type { AgentStatus, PeerStatus, PipelineStatus, ReceiptsStatus, RecentResult } from './types.js';

interface PipelineCard {
  readonly root: HTMLElement;
  readonly state: HTMLElement;
  readonly counters: HTMLElement;
  readonly chart: SVGSVGElement;
  readonly legend: HTMLElement;
  readonly series: ScoreSeries;
}

/** Peers once seen and now gone are listed as down; a bound keeps a churning mesh in check. */
const MAX_REMEMBERED_PEERS = 64;

/** The page's sections, updated in place from status documents and results. */
export class DashboardView {
  private readonly cards = new Map<string, PipelineCard>();
  private readonly peersSeen = new Map<string, PeerStatus>();

  renderStatus(s: AgentStatus): void {
    byId('node-name').textContent = `${s.node.name} · ${s.node.version}`;
    this.renderNodes(s);
    for (const p of s.pipelines) this.updateCard(this.card(p.id), p);
    this.renderReceipts(s.receipts);
    renderEpochs(s.receipts?.credits?.epochs);
    renderActivities(s.activities);
  }

  /** The results of one pipeline, newest first as the API lists them, replacing its chart. */
  loadHistory(pipeline: string, results: readonly RecentResult[]): void {
    const card = this.card(pipeline);
    const withScore = results.filter((r) => r.score !== null);
    card.series.reset(withScore.map(toPoint), withScore[0]?.threshold ?? null);
    this.redraw(card, withScore[0]);
  }

  addResult(r: RecentResult): void {
    if (r.score === null) return;
    const card = this.card(r.pipeline);
    card.series.push(toPoint(r), r.threshold);
    this.redraw(card, r);
  }

  private card(id: string): PipelineCard {
    const existing = this.cards.get(id);
    if (existing !== undefined) return existing;
    const state = el('span', { class: 'state' });
    const counters = el('dl', { class: 'counters' });
    const chart = createChart(id);
    const legend = el('p', { class: 'legend' }, 'waiting for results…');
    const root = el(
      'article',
      { class: 'pipeline', 'data-pipeline': id },
      el('h3', {}, el('span', { class: 'pipeline-id' }, id), ' ', state),
      counters,
      chart,
      legend,
    );
    byId('pipeline-list').append(root);
    const card = { root, state, counters, chart, legend, series: new ScoreSeries() };
    this.cards.set(id, card);
    return card;
  }

  private updateCard(card: PipelineCard, p: PipelineStatus): void {
    card.state.textContent = p.state;
    card.state.setAttribute('data-state', p.state);
    const rejected = Object.values(p.rejected ?? {}).reduce((a, b) => a + b, 0);
    const figures: [string, number][] = [
      ['readings', p.readings],
      ['results', p.results],
      ['anomalies', p.anomalies],
      ['sensors', p.sensors],
      ['queue', p.queueDepth],
      ['offloading', p.offloading],
      ['rejected', rejected],
      ['failures', p.inferenceFailures + p.queueDropped],
    ];
    card.counters.replaceChildren(
      ...figures.map(([k, v]) =>
        el('div', { class: 'figure', 'data-figure': k }, el('dt', {}, k), el('dd', {}, v)),
      ),
    );
  }

  private redraw(card: PipelineCard, last: RecentResult | undefined): void {
    drawChart(card.chart, card.series);
    if (last === undefined) return;
    card.legend.textContent =
      `threshold ${formatScore(card.series.threshold)} · last ${formatScore(last.score)} ` +
      `(${last.sensor}, ${formatTime(last.ts)})`;
  }

  private renderNodes(s: AgentStatus): void {
    const peers = s.mesh?.peers ?? [];
    const up = new Set(peers.map((p) => p.id));
    for (const p of peers) {
      this.peersSeen.delete(p.id);
      this.peersSeen.set(p.id, p);
    }
    while (this.peersSeen.size > MAX_REMEMBERED_PEERS) {
      const oldest = this.peersSeen.keys().next().value;
      if (oldest === undefined || up.has(oldest)) break;
      this.peersSeen.delete(oldest);
    }
    const queue = s.pipelines.reduce((a, p) => a + p.queueDepth, 0);
    const self = nodeItem(
      s.node.name,
      'this node',
      true,
      `queue ${queue}`,
      s.mqtt.connected ? '' : 'MQTT down',
    );
    const others = [...this.peersSeen.values()].map((p) =>
      nodeItem(
        p.name,
        p.broker === null ? 'peer' : 'peer, hosts a broker',
        up.has(p.id),
        p.loadPermille === undefined ? '' : `load ${(p.loadPermille / 10).toFixed(0)}%`,
        '',
      ),
    );
    const note = s.mesh === undefined ? [el('li', { class: 'note' }, 'mesh off: no peers')] : [];
    byId('node-list').replaceChildren(self, ...others, ...note);
  }

  private renderReceipts(r: ReceiptsStatus | undefined): void {
    const list = byId('receipt-figures');
    if (r === undefined) {
      list.replaceChildren(el('p', { class: 'note' }, 'receipts are off on this node (no settlement)'));
      return;
    }
    const rows: [string, string][] = [
      ['pending', String(r.pending)],
      ['acknowledged (since start)', String(r.acknowledgedReceipts)],
      ['appended (since start)', String(r.appended)],
      ['refused (disk full)', String(r.refused)],
      ['last acknowledgement', r.lastAckAtMs === null ? 'never' : formatTime(r.lastAckAtMs)],
      ['settlement', r.url],
    ];
    const c = r.credits;
    if (c != null) {
      rows.push(['credited (units)', String(c.credited)], ['credit pending', String(c.pending)]);
      rows.push(['voided', String(c.voided)]);
      if (c.lastEpoch !== null)
        rows.push(['last epoch', `#${c.lastEpoch.epoch}: ${c.lastEpoch.cumulative} units in all`]);
      rows.push(['credits as of', formatTime(c.atMs)]);
    }
    if (r.lastError !== null) rows.push(['last error', `${r.lastError.code}: ${r.lastError.message}`]);
    list.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  }
}

function toPoint(r: RecentResult) {
  return { ts: r.ts, score: r.score ?? 0, anomaly: r.anomaly, sensor: r.sensor, seq: r.seq };
}

function nodeItem(name: string, role: string, up: boolean, load: string, warning: string): HTMLElement {
  return el(
    'li',
    { class: 'node', 'data-up': String(up) },
    el('span', { class: 'dot', 'aria-hidden': 'true' }),
    el('strong', {}, name),
    ` ${role} · ${up ? 'up' : 'down'}`,
    load ? ` · ${load}` : '',
    warning ? el('span', { class: 'warn' }, ` · ${warning}`) : null,
  );
}

import { byId, el, formatScore, formatTime } from './dom.js';
import type { RecentResult } from './types.js';

/** The list keeps the newest few: enough to see what was flagged, bounded for a long session. */
const SHOWN = 50;

export class AnomalyList {
  private items: RecentResult[] = [];

  /** From /v1/anomalies (newest first), e.g. at load and after a reconnect. */
  reset(anomalies: readonly RecentResult[]): void {
    this.items = anomalies.slice(0, SHOWN);
    this.render();
  }

  add(r: RecentResult): void {
    this.items.unshift(r);
    if (this.items.length > SHOWN) this.items.length = SHOWN;
    this.render();
  }

  private render(): void {
    const list = byId('anomaly-list');
    if (this.items.length === 0) {
      list.replaceChildren(el('li', { class: 'note' }, 'none so far'));
      return;
    }
    list.replaceChildren(
      ...this.items.map((r) =>
        el(
          'li',
          { class: 'anomaly-item', 'data-pipeline': r.pipeline },
          el('time', { datetime: new Date(r.ts).toISOString() }, formatTime(r.ts)),
          ' ',
          el('strong', { class: 'sensor' }, r.sensor),
          ` on ${r.pipeline}: score ${formatScore(r.score)} > ${formatScore(r.threshold)}`,
          r.label === undefined ? '' : ` (${r.label})`,
        ),
      ),
    );
  }
}

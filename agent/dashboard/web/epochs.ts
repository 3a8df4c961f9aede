import { byId, el } from './dom.js';
import type { EpochCredit } from './types.js';

/**
 * What the settlement service credited this node, epoch by epoch, newest first. The agent
 * keeps the last dozen (receipts/credits.ts); the section hides until one has closed.
 */
export function renderEpochs(list: readonly EpochCredit[] | undefined): void {
  const rows = (list ?? []).map(epochRow);
  byId('epochs').hidden = rows.length === 0;
  byId('epoch-rows').replaceChildren(...rows);
}

function epochRow(e: EpochCredit): HTMLElement {
  const closed = e.closedAtMs === null ? '–' : closedAt(e.closedAtMs);
  return el(
    'tr',
    { 'data-epoch': String(e.epoch) },
    el('th', { scope: 'row' }, `#${e.epoch}`),
    el('td', {}, closed),
    el('td', { class: 'num', 'data-field': 'credit' }, e.credit),
    el('td', { class: 'num', 'data-field': 'cumulative' }, e.cumulative),
    el('td', { class: 'num', 'data-field': 'receipts' }, e.receipts === null ? '–' : e.receipts),
  );
}

/** Time of day for today's closes, the date for older ones: the column stays narrow. */
function closedAt(ms: number): string {
  const d = new Date(ms);
  const today = d.toDateString() === new Date().toDateString();
  return today
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

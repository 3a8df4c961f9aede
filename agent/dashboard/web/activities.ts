import { byId, el } from './dom.js';
import type { Activity } from './types.js';

/**
 * Long operations of the agent (a model fetched from a peer, an outbox drain) as progress
 * bars; the section hides when nothing runs or just ended.
 */
export function renderActivities(list: readonly Activity[] | undefined): void {
  const section = byId('activities');
  const items = (list ?? []).map(activityItem);
  section.hidden = items.length === 0;
  byId('activity-list').replaceChildren(...items);
}

function activityItem(a: Activity): HTMLElement {
  const bar = el('progress', { 'aria-label': a.label });
  if (a.total !== null && a.total > 0) {
    bar.max = a.total;
    bar.value = a.state === 'done' ? a.total : Math.min(a.done, a.total);
  } else if (a.state === 'done') {
    bar.max = 1;
    bar.value = 1;
  }
  // Without a total and still running, the element stays indeterminate.
  const figures = a.unit === 'bytes' ? `${(a.done / 1e6).toFixed(1)} MB` : `${a.done} receipts`;
  const tail =
    a.state === 'running'
      ? `${figures}${a.etaS === null ? '' : ` · ${a.etaS} s left`}`
      : `${a.state}: ${a.result ?? ''}`;
  return el('li', { 'data-state': a.state }, el('strong', {}, a.label), ' ', bar, ` ${tail}`);
}

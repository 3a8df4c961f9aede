import type { Activity } from '../activity.js';
import { barOf, mb } from './progress.js';

/**
 * One agent activity as `fieldmesh status` shows it:
 * `model vibration-ae [#########...........] 45% 3.2/7.1 MB 1.2 MB/s 4 s left`. Pure.
 */
export function activityText(a: Activity): string {
  const parts = [a.label];
  if (a.state !== 'running') {
    parts.push(a.state === 'done' ? 'done:' : 'failed:', a.result ?? '');
    return parts.join(' ');
  }
  if (a.total !== null && a.total > 0) {
    const fraction = Math.min(1, a.done / a.total);
    parts.push(barOf(fraction), `${Math.floor(fraction * 100)}%`);
  }
  parts.push(figures(a));
  if (a.rate !== null) parts.push(a.unit === 'bytes' ? `${mb(a.rate)} MB/s` : `${Math.round(a.rate)}/s`);
  if (a.etaS !== null && a.total !== null) parts.push(`${a.etaS} s left`);
  return parts.join(' ');
}

function figures(a: Activity): string {
  const n = (v: number) => (a.unit === 'bytes' ? mb(v) : String(v));
  const total = a.total === null ? '' : `/${n(a.total)}`;
  return `${n(a.done)}${total} ${a.unit === 'bytes' ? 'MB' : 'receipts'}`;
}

import { loadSnapshot } from './api.js';
import { byId } from './dom.js';
import { render } from './view.js';

/**
 * The settlement service's page: reads the service's public lists every few seconds and
 * redraws. Polling, not a stream: the ledger changes at batch and epoch pace, and a plain GET
 * goes through any reverse proxy an operator puts in front of the service.
 */
const REFRESH_MS = 5_000;

function showConnection(state: 'live' | 'unreachable', detail: string): void {
  const node = byId('connection');
  node.textContent = state;
  node.setAttribute('data-state', state);
  byId('updated').textContent = detail;
}

async function refresh(): Promise<void> {
  try {
    render(await loadSnapshot());
    showConnection(
      'live',
      `updated ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s`,
    );
  } catch (err) {
    // The last snapshot stays on screen: stale figures, said to be stale, beat a blank page.
    showConnection('unreachable', `${err instanceof Error ? err.message : String(err)}; retrying`);
  } finally {
    setTimeout(() => void refresh(), REFRESH_MS);
  }
}

void refresh();

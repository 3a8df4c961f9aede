import { AnomalyList } from './anomalies.js';
import { forgetToken, getJson, savedToken, saveToken, Unauthorized } from './api.js';
import { byId } from './dom.js';
import { POINTS_PER_CHART } from './series.js';
import { type ConnectionState, keepStreamOpen } from './stream.js';
import type { AgentStatus, RecentResult } from './types.js';
import { DashboardView } from './view.js';

/**
 * The dashboard: loads the agent's status and recent history, then follows the event stream.
 * A token-protected agent answers 401 at first: the page asks for the token once, keeps it in
 * sessionStorage (gone when the tab closes) and starts again.
 */
const view = new DashboardView();
const anomalies = new AnomalyList();
let stopStream: (() => void) | null = null;

function showConnection(state: ConnectionState | 'needs token' | 'unreachable'): void {
  const node = byId('connection');
  node.textContent = state;
  node.setAttribute('data-state', state.replace(' ', '-'));
}

/** Status, each pipeline's chart history and the anomaly list, from the agent as it is now. */
async function loadSnapshot(): Promise<void> {
  const status = await getJson<AgentStatus>('/v1/status');
  view.renderStatus(status);
  await Promise.all(
    status.pipelines.map(async (p) => {
      const path = `/v1/results?pipeline=${encodeURIComponent(p.id)}&limit=${POINTS_PER_CHART}`;
      view.loadHistory(p.id, (await getJson<{ results: RecentResult[] }>(path)).results);
    }),
  );
  anomalies.reset((await getJson<{ anomalies: RecentResult[] }>('/v1/anomalies?limit=50')).anomalies);
}

function askForToken(rejected: boolean): void {
  stopStream?.();
  stopStream = null;
  showConnection('needs token');
  const form = byId<HTMLFormElement>('token-form');
  byId('token-error').textContent = rejected ? 'That token was refused; try again.' : '';
  form.hidden = false;
  byId<HTMLInputElement>('token-input').focus();
}

function start(): void {
  stopStream = keepStreamOpen({
    state: showConnection,
    opened: () => {
      loadSnapshot().catch(failed);
    },
    event: (kind, data) => {
      if (kind === 'status') view.renderStatus(data as AgentStatus);
      else if (kind === 'result') view.addResult(data as RecentResult);
      else anomalies.add(data as RecentResult);
    },
  });
}

function failed(err: unknown): void {
  if (err instanceof Unauthorized) {
    const hadToken = savedToken() !== null;
    forgetToken();
    askForToken(hadToken);
    return;
  }
  // Anything else is the agent going away mid-load: the stream's reconnect reloads.
  showConnection('reconnecting');
}

async function boot(): Promise<void> {
  try {
    // A first request tells whether a token is needed before the stream is opened.
    await getJson('/v1/status');
  } catch (err) {
    if (err instanceof Unauthorized) return failed(err);
    showConnection('unreachable');
    window.setTimeout(() => void boot(), 3000);
    return;
  }
  start();
}

byId<HTMLFormElement>('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = byId<HTMLInputElement>('token-input');
  const token = input.value.trim();
  if (token === '') return;
  saveToken(token);
  input.value = '';
  byId<HTMLFormElement>('token-form').hidden = true;
  void boot();
});

void boot();

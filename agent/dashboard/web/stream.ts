import { eventsUrl } from './api.js';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

export interface StreamHandlers {
  /** The stream is (again) open: the agent may have restarted, so reload what it keeps. */
  opened(): void;
  state(s: ConnectionState): void;
  event(kind: 'status' | 'result' | 'anomaly', data: unknown): void;
}

/** How long to wait before reopening a stream the browser gave up on (a 401, 503, …). */
const REOPEN_MS = 3000;

/**
 * The agent's event stream, kept open for as long as the page is: EventSource retries a lost
 * connection by itself (the agent restarting); a refused one it closes for good, so the page
 * opens a new one after a pause.
 */
export function keepStreamOpen(handlers: StreamHandlers): () => void {
  let source: EventSource | null = null;
  let timer: number | undefined;
  const open = () => {
    source = new EventSource(eventsUrl());
    source.addEventListener('open', () => {
      handlers.state('live');
      handlers.opened();
    });
    source.addEventListener('error', () => {
      handlers.state('reconnecting');
      if (source?.readyState === EventSource.CLOSED) {
        source = null;
        timer = window.setTimeout(open, REOPEN_MS);
      }
    });
    for (const kind of ['status', 'result', 'anomaly'] as const) {
      source.addEventListener(kind, (e: MessageEvent<string>) => {
        try {
          handlers.event(kind, JSON.parse(e.data));
        } catch {
          // A malformed event is skipped; the next status brings the page up to date.
        }
      });
    }
  };
  handlers.state('connecting');
  open();
  return () => {
    window.clearTimeout(timer);
    source?.close();
  };
}

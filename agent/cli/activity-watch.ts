import { FieldmeshError } from '../../protocol/errors.js';
import type { Activity } from '../activity.js';
import { EXIT } from './exit-codes.js';
import { Progress, type ProgressStream } from './progress.js';
import { fetchActivities, postAction, type Target } from './status/client.js';
import { styleFor } from './style.js';

export interface WatchedAction {
  /** `POST` path of the operator API: `/v1/receipts/flush`, `/v1/models/<id>/fetch`. */
  readonly path: string;
  /** Refusals that mean "nothing to do" (exit 0), by the agent's code. */
  readonly nothingToDo: readonly string[];
  /** The one-line result of a finished activity. */
  done(a: Activity, seconds: number): string;
}

export interface WatchOptions {
  readonly json: boolean;
  readonly pollMs?: number;
  readonly stream?: ProgressStream & NodeJS.WritableStream;
}

const POLL_MS = 500;

/**
 * Asks the running agent to start a long operation, then draws its progress from
 * /v1/status until it ends: a redrawn bar on a terminal, a line every 10 s in a pipe or a log.
 * Exits 0 when it finished (or there was nothing to do), 1 when it failed, 2 for an unknown
 * name, 4 when the agent cannot do it (receipts or mesh off) or cannot be reached.
 */
export async function runWatchedAction(
  target: Target,
  action: WatchedAction,
  options: WatchOptions,
): Promise<number> {
  const out = options.stream ?? process.stdout;
  const style = styleFor(out);
  const { status, body } = await postAction(target, action.path);
  if (status !== 202 || body.activity === undefined) {
    const code = body.code ?? 'UNKNOWN';
    const reason = body.error ?? `HTTP ${status}`;
    const exit = action.nothingToDo.includes(code) ? EXIT.ok : status === 404 ? EXIT.usage : EXIT.unavailable;
    if (options.json) out.write(`${JSON.stringify({ accepted: false, status, code, reason })}\n`);
    else out.write(`${exit === EXIT.ok ? reason : `${style.red('refused')} [${code}]: ${reason}`}\n`);
    return exit;
  }
  const { final, progress } = await follow(target, body.activity, options);
  const seconds = (final.updatedAtMs - final.startedAtMs) / 1000;
  const line =
    final.state === 'done'
      ? `${style.green('ok')} ${action.done(final, seconds)}`
      : `${style.red('failed')} ${final.label}: ${final.result ?? 'no reason given'}`;
  // The result line replaces the bar on a terminal.
  if (options.json) out.write(`${JSON.stringify({ accepted: true, activity: final })}\n`);
  else progress?.finish(line);
  return final.state === 'done' ? EXIT.ok : EXIT.failure;
}

/** Polls until the activity ends; the bar goes to `stream` unless --json. */
async function follow(
  target: Target,
  id: string,
  options: WatchOptions,
): Promise<{ final: Activity; progress: Progress | undefined }> {
  let progress: Progress | undefined;
  for (;;) {
    const a = (await fetchActivities(target)).find((x) => x.id === id);
    if (a === undefined) {
      throw new FieldmeshError(
        'STATUS_API_FAILED',
        `the agent at ${target.url} no longer lists activity ${id}; did it restart? Its log says how the operation ended`,
      );
    }
    if (!options.json) {
      progress ??= new Progress({
        label: a.label,
        unit: a.unit === 'bytes' ? 'bytes' : 'count',
        ...(a.total === null ? {} : { total: a.total }),
        ...(options.stream ? { stream: options.stream } : { stream: process.stdout }),
      });
      progress.update(a.done, a.total === null ? {} : { total: a.total });
    }
    if (a.state !== 'running') return { final: a, progress };
    await new Promise((r) => setTimeout(r, options.pollMs ?? POLL_MS));
  }
}

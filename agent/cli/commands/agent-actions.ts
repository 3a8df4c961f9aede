import { runWatchedAction, type WatchedAction } from '../activity-watch.js';
import { parse, UsageError } from '../args.js';
import { EXIT } from '../exit-codes.js';
import { DEFAULT_API_URL, resolveTarget } from '../status/client.js';

/**
 * The verbs that ask a running agent to do something long and watch it through the operator
 * API: `fieldmesh receipts flush` and `fieldmesh models fetch ID`.
 */

export const TARGET_OPTIONS = `  -c, --config FILE   the agent's YAML configuration: its api: section gives host, port, token
  --url URL           the agent's operator API (default ${DEFAULT_API_URL}); wins over --config
  --token T           API token (default $FIELDMESH_API_TOKEN, else the config's)
  --json              no bar: one JSON line when it ends`;

export const RECEIPTS_FLUSH_HELP = `fieldmesh receipts flush [--config FILE | --url URL] [--token T] [--json]

  flush    asks the running agent to send its pending receipts now — partial batches too, and
           without waiting out a retry backoff — and shows the outbox draining until it is
           empty: a bar on a terminal, a line every 10 s in a pipe or a log
           Exits 0 when sent (or nothing was pending), 1 when the drain failed, 4 when the
           agent cannot be reached or has receipts off`;

export const MODELS_FETCH_HELP = `fieldmesh models fetch ID [--config FILE | --url URL] [--token T] [--json]

  fetch    asks the running agent to fetch model ID (configured, but its .onnx is missing)
           from a mesh peer that runs it, shows the download, then loads the model and starts
           the pipelines that waited for it. Exits 0 when fetched (or already loaded), 1 when
           no peer could provide it, 2 for an unknown ID, 4 when the agent cannot be reached
           or has the mesh off`;

const TARGET_FLAGS = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const;

async function run(command: string, argv: string[], help: string, action: (rest: string[]) => WatchedAction) {
  const { values, positionals } = parse(command, argv, TARGET_FLAGS);
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return EXIT.ok;
  }
  if (values.url !== undefined && !/^https?:\/\/[^/]+/.test(values.url))
    throw new UsageError(`fieldmesh ${command}: --url takes http://HOST:PORT, got "${values.url}"`);
  const watched = action(positionals);
  const target = await resolveTarget({
    url: values.url,
    config: values.config,
    token: values.token,
    command,
  });
  return runWatchedAction(target, watched, { json: values.json === true });
}

export function receiptsFlushVerb(argv: string[]): Promise<number> {
  return run('receipts flush', argv, RECEIPTS_FLUSH_HELP, (rest) => {
    if (rest.length > 0) throw new UsageError(`fieldmesh receipts flush: unexpected "${rest[0]}"`);
    return {
      path: '/v1/receipts/flush',
      nothingToDo: ['RECEIPTS_NONE_PENDING'],
      done: (a, seconds) => `sent ${a.done} receipts in ${seconds.toFixed(1)} s (${a.result ?? 'done'})`,
    };
  });
}

export function modelsFetchVerb(argv: string[]): Promise<number> {
  return run('models fetch', argv, MODELS_FETCH_HELP, (rest) => {
    const [id, ...extra] = rest;
    if (id === undefined || extra.length > 0)
      throw new UsageError('fieldmesh models fetch: give exactly one model id (see fieldmesh status)');
    return {
      path: `/v1/models/${encodeURIComponent(id)}/fetch`,
      nothingToDo: ['MODEL_PRESENT'],
      done: (a, seconds) => `fetched model ${id}, ${a.done} bytes in ${seconds.toFixed(1)} s, digest ok`,
    };
  });
}

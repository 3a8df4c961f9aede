import { FieldmeshError } from '../../../protocol/errors.js';
import { parse, UsageError } from '../args.js';
import { EXIT, EXIT_HELP } from '../exit-codes.js';
import {
  DEFAULT_API_URL,
  fetchReport,
  type NodeReport,
  resolveTarget,
  type Target,
} from '../status/client.js';
import { renderReport } from '../status/render.js';
import { styleFor } from '../style.js';

export const STATUS_HELP = `fieldmesh status [--config FILE] [--url URL] [--token T] [--json] [--watch]

One screen about a running agent, from its operator API (docs/operator-api.md): node, MQTT
link, embedded broker, readiness and its reasons, each pipeline (state, readings, results,
anomalies, rejections and their top reasons, queue depth, inference latency p50/p95),
models, mesh peers and receipts.

Options:
  -c, --config FILE   the agent's YAML configuration: its api: section gives host, port
                      and token (a 0.0.0.0 host is asked on 127.0.0.1)
  --url URL           the API to ask (default ${DEFAULT_API_URL}); wins over --config
  --token T           API token (default $FIELDMESH_API_TOKEN, else the config's)
  --json              the merged /v1/status, /readyz and latency document, on one line
  --watch             redraw every 2 s until Ctrl-C (clears the screen on a terminal only)
  -h, --help          this help

Exits 0 when the node is ready, 6 when it answers but is not ready, 4 when the API cannot
be reached, 2 when it wants a token (pass --token or set FIELDMESH_API_TOKEN).

${EXIT_HELP}`;

const WATCH_MS = 2_000;

export async function statusCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('status', argv, {
    config: { type: 'string', short: 'c' },
    url: { type: 'string' },
    token: { type: 'string' },
    json: { type: 'boolean' },
    watch: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return EXIT.ok;
  }
  if (positionals.length > 0)
    throw new UsageError(`fieldmesh status: unexpected "${positionals[0]}". Run "fieldmesh status --help".`);
  if (values.url !== undefined && !/^https?:\/\/[^/]+/.test(values.url))
    throw new UsageError(`fieldmesh status: --url takes http://HOST:PORT, got "${values.url}"`);
  const target = await resolveTarget({ url: values.url, config: values.config, token: values.token });
  const json = values.json === true;
  if (values.watch) return watch(target, json);
  return show(await fetchReport(target), json);
}

function show(report: NodeReport, json: boolean): number {
  if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    const width = Math.min(process.stdout.columns ?? 80, 80);
    process.stdout.write(`${renderReport(report, styleFor(process.stdout), width).join('\n')}\n`);
  }
  return report.ready ? EXIT.ok : EXIT.notReady;
}

/**
 * Redraws until Ctrl-C or SIGTERM. An agent that goes away is shown as such and asked again,
 * so a watch survives its restart; a wrong token ends the watch, since asking again cannot help.
 */
async function watch(target: Target, json: boolean): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const style = styleFor(process.stdout);
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (let first = true; ; first = false) {
      let text: string;
      try {
        const report = await fetchReport(target);
        text = json ? JSON.stringify(report) : renderReport(report, style, 80).join('\n');
      } catch (err) {
        if (!(err instanceof FieldmeshError) || err.code !== 'STATUS_API_UNREACHABLE') throw err;
        text = style.red(`${new Date().toISOString()}  ${err.message}`);
      }
      // Clear and home only on a terminal; a log gets the screens one after another.
      const before = tty ? '\u001b[H\u001b[2J' : first || json ? '' : '\n';
      process.stdout.write(`${before}${text}\n`);
      let timer: NodeJS.Timeout | undefined;
      const next = new Promise<'next'>((resolve) => {
        timer = setTimeout(() => resolve('next'), WATCH_MS);
      });
      const why = await Promise.race([next, stopped.then(() => 'stop' as const)]);
      clearTimeout(timer);
      if (why === 'stop') return EXIT.ok;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

import path from 'node:path';
import { readIdentity } from '../../../protocol/keystore.js';
import { loadConfigFile } from '../../config/load.js';
import { type EpochCredit, fetchNodeCredits, type NodeCredits } from '../../receipts/credits.js';
import { inspectOutbox } from '../../receipts/inspect.js';
import { type ReceiptsStatusFile, readStatusFile } from '../../receipts/status-file.js';
import { parse } from '../args.js';
import { EXIT, EXIT_HELP } from '../exit-codes.js';
import { RECEIPTS_FLUSH_HELP, receiptsFlushVerb, TARGET_OPTIONS } from './agent-actions.js';

export const RECEIPTS_HELP = `fieldmesh receipts [--config FILE | --data-dir DIR] [--json]
${RECEIPTS_FLUSH_HELP.split('\n')[0]}

Shows this node's contribution receipts: how many wait in the outbox, the batch in flight,
the last acknowledgement and refused receipts (from the running agent's status file, or from
the outbox itself when no agent runs), then asks the settlement service what it credited:
in all, and in each of its last few closed epochs.

Options:
  -c, --config FILE   the agent's YAML configuration (data dir and settlement URL)
  --data-dir DIR      the node's data directory instead (default $FIELDMESH_DATA_DIR or ./data)
  --json              machine-readable output
  -h, --help          this help

Exits 4 when the settlement service cannot be reached (the local part is still printed).

${RECEIPTS_FLUSH_HELP.split('\n').slice(2).join('\n')}

Options of flush:
${TARGET_OPTIONS}

${EXIT_HELP}`;

/** A status file older than this is not from a running agent (it rewrites it every 2 s). */
const STALE_MS = 10_000;
const SERVICE_TIMEOUT_MS = 2_000;

interface Local {
  source: 'agent' | 'outbox' | 'none';
  pending: number | null;
  inFlightBatch: number | null;
  lastAckAtMs: number | null;
  appended: number | null;
  refused: number | null;
  lastError: string | null;
  note: string | null;
}

/** What `--json` prints as `service`: the credits, or why there are none. */
type ServiceAnswer = ({ reachable: true; node: string } & NodeCredits) | { reachable: false; error: string };

export async function receiptsCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'flush') return receiptsFlushVerb(argv.slice(1));
  const { values } = parse('receipts', argv, {
    config: { type: 'string', short: 'c' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${RECEIPTS_HELP}\n`);
    return EXIT.ok;
  }
  let dataDir: string;
  let url: string | undefined;
  if (values.config) {
    const config = await loadConfigFile(values.config);
    dataDir = config.node.dataDir;
    url = config.settlement?.url;
    if (url === undefined) {
      process.stdout.write(`receipts are off: ${values.config} has no settlement section\n`);
      return EXIT.ok;
    }
  } else {
    dataDir = path.resolve(values['data-dir'] ?? process.env.FIELDMESH_DATA_DIR ?? './data');
  }
  const status = await readStatusFile(dataDir);
  url ??= process.env.FIELDMESH_SETTLEMENT_URL ?? status?.url;
  const nodeId = status?.nodeId ?? (await readIdentity(dataDir).catch(() => undefined))?.peerId;
  const local = await localState(dataDir, status);
  const service: ServiceAnswer | null =
    url === undefined || nodeId === undefined ? null : await askService(url, nodeId);
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ nodeId: nodeId ?? null, dataDir, url: url ?? null, local, service })}\n`,
    );
  } else {
    process.stdout.write(`${render(nodeId, dataDir, url, local, service).join('\n')}\n`);
  }
  return service !== null && !service.reachable ? EXIT.unavailable : EXIT.ok;
}

async function localState(dataDir: string, status: ReceiptsStatusFile | undefined): Promise<Local> {
  const ageMs = status === undefined ? Number.POSITIVE_INFINITY : Date.now() - status.updatedAtMs;
  if (status !== undefined && ageMs <= STALE_MS) {
    const r = status.receipts;
    return {
      source: 'agent',
      pending: r.pending,
      inFlightBatch: r.inFlightBatch,
      lastAckAtMs: r.lastAckAtMs,
      appended: r.appended,
      refused: r.refused,
      lastError: r.lastError === null ? null : `${r.lastError.code}: ${r.lastError.message}`,
      note: `running agent, status ${Math.round(ageMs / 1000)} s old`,
    };
  }
  const none = { appended: null, refused: null, lastError: null };
  const nothing = (note: string) => ({
    source: 'none' as const,
    pending: null,
    inFlightBatch: null,
    lastAckAtMs: null,
    ...none,
    note,
  });
  try {
    const summary = await inspectOutbox(path.join(dataDir, 'receipts'));
    if (summary === undefined) return nothing(`no receipt outbox in ${dataDir}`);
    return { source: 'outbox', ...summary, ...none, note: 'no agent running; read from the outbox on disk' };
  } catch (err) {
    return nothing(
      `the outbox is in use and the agent's status file is stale or missing (${(err as Error).message})`,
    );
  }
}

async function askService(url: string, nodeId: string): Promise<ServiceAnswer> {
  const answer = await fetchNodeCredits(url, nodeId, SERVICE_TIMEOUT_MS);
  return answer.ok
    ? { reachable: true, node: nodeId, ...answer.credits }
    : { reachable: false, error: answer.error };
}

/** How many of the service's recent epochs the text output lists (--json has them all). */
const EPOCHS_SHOWN = 4;

function epochLines(epochs: readonly EpochCredit[] | undefined): string[] {
  return (epochs ?? []).slice(0, EPOCHS_SHOWN).map((e) => {
    const closed = e.closedAtMs === null ? 'closed ?' : `closed ${new Date(e.closedAtMs).toISOString()}`;
    const receipts = e.receipts === null ? '' : `, ${e.receipts} receipts`;
    return `  epoch ${e.epoch} ${closed}: +${e.credit} (total ${e.cumulative}${receipts})`;
  });
}

function render(
  nodeId: string | undefined,
  dataDir: string,
  url: string | undefined,
  local: Local,
  service: ServiceAnswer | null,
): string[] {
  const when = (ms: number | null) =>
    ms === null
      ? 'never'
      : `${new Date(ms).toISOString()} (${Math.max(0, Math.round((Date.now() - ms) / 1000))} s ago)`;
  const lines = [
    `node       ${nodeId ?? `(no node key in ${dataDir})`}`,
    `service    ${url ?? '(unknown: pass --config)'}`,
  ];
  if (local.note) lines.push(`source     ${local.note}`);
  if (local.pending !== null) {
    const inFlight =
      local.inFlightBatch === null ? 'no batch in flight' : `batch ${local.inFlightBatch} in flight`;
    lines.push(`outbox     ${local.pending} receipts pending, ${inFlight}`);
    lines.push(`last ack   ${when(local.lastAckAtMs)}`);
  }
  if (local.appended !== null)
    lines.push(
      `appended   ${local.appended} since the agent started, ${local.refused ?? 0} refused (outbox full)`,
    );
  if (local.lastError !== null) lines.push(`last error ${local.lastError}`);
  if (service === null) return lines;
  if (!service.reachable) {
    lines.push(`credited   unknown: settlement service ${service.error}`);
    return lines;
  }
  const counts = Object.entries(service.receipts)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push(`credited   ${service.credited} (pending ${service.pending}, voided ${service.voided})`);
  if (counts) lines.push(`receipts   ${counts}`);
  if (service.lastEpoch !== null) {
    lines.push(`last epoch ${service.lastEpoch.epoch} (cumulative credit ${service.lastEpoch.cumulative})`);
  }
  lines.push(...epochLines(service.epochs));
  if (service.openChallenges > 0) lines.push(`challenges ${service.openChallenges} open spot checks`);
  if (service.registered === false) {
    lines.push('warning    the service does not list this node as registered; its batches may be refused');
  }
  return lines;
}

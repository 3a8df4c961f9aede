/**
 * What the settlement service has credited this node, as its `GET /v1/nodes/<node>` reports
 * (settlement/store/ledger-queries.ts nodeSummary). The agent asks now and then so that its
 * status, metrics and dashboard show earnings next to the receipts still in the outbox.
 */
export interface NodeCredits {
  /** Credit units of batches credited (epoch closed, spot checks passed), offloaded work included. */
  readonly credited: number;
  /** Credit units of batches accepted but not yet final (open or challenged). */
  readonly pending: number;
  /** Credit units of batches voided by a failed spot check. */
  readonly voided: number;
  /** Receipts the service holds for this node, by status (valid, duplicate, equivocation, …). */
  readonly receipts: Readonly<Record<string, number>>;
  /** Spot checks of this node's receipts still waiting for its reveals. */
  readonly openChallenges: number;
  /** Whether the service lists this node as registered; null when it does not say. */
  readonly registered: boolean | null;
  /** The last closed epoch that credited this node, and its running total then. */
  readonly lastEpoch: { readonly epoch: number; readonly cumulative: number } | null;
  /**
   * The last closed epochs with credit for this node, newest first, at most EPOCHS_ASKED
   * (`GET /v1/nodes/<node>/epochs`); empty until an epoch credited it, or when the service
   * has no such list.
   */
  readonly epochs: readonly EpochCredit[];
  /** When the service answered, Unix epoch ms. */
  readonly atMs: number;
}

/** One closed epoch as the service's per-node list gives it (docs/settlement.md "Lists"). */
export interface EpochCredit {
  readonly epoch: number;
  /** When the epoch closed, Unix epoch ms; null when the service does not say. */
  readonly closedAtMs: number | null;
  /** Credit units this close added for the node. */
  readonly credit: number;
  /** The node's running total after the close (its reward leaf). */
  readonly cumulative: number;
  /** Receipts whose credit the close brought in; null when the service does not know. */
  readonly receipts: number | null;
}

/** Enough to see a trend on a phone, small enough for every status document. */
export const EPOCHS_ASKED = 12;

export type CreditsAnswer =
  | { readonly ok: true; readonly credits: NodeCredits }
  | { readonly ok: false; readonly error: string };

/**
 * Asks the service for the node's totals and its last epochs, both under one timeout; never
 * throws: an unreachable or confused service is an answer too. The totals decide the answer;
 * a history the service cannot give (404 before the node's first credited epoch, an older
 * service) only leaves `epochs` empty.
 */
export async function fetchNodeCredits(
  baseUrl: string,
  nodeId: string,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<CreditsAnswer> {
  const target = `${baseUrl.replace(/\/+$/, '')}/v1/nodes/${nodeId}`;
  const signal = AbortSignal.timeout(timeoutMs);
  const ask = (url: string) => fetch(url, { headers: { accept: 'application/json' }, signal });
  const history = ask(`${target}/epochs?limit=${EPOCHS_ASKED}`)
    .then(async (r) => {
      if (r.ok) return epochsOf(await r.json());
      await r.body?.cancel(); // a 404 before the first credited epoch: free the connection
      return [];
    })
    .catch(() => []);
  try {
    const response = await ask(target);
    if (response.status === 404)
      return { ok: false, error: `${target}: the service does not know this node` };
    if (!response.ok) return { ok: false, error: `${target} answered HTTP ${response.status}` };
    const body = (await response.json()) as Record<string, unknown>;
    return { ok: true, credits: { ...creditsOf(body, now()), epochs: await history } };
  } catch (err) {
    const e = err as Error;
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : ((e.cause as Error | undefined)?.message ?? e.message);
    return { ok: false, error: `${baseUrl} unreachable (${why})` };
  } finally {
    // Settles on its own (it never rejects); awaited so no request outlives the call.
    await history;
  }
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The list as sent, kept to EPOCHS_ASKED rows with a numeric epoch: a page shows it as text. */
export function epochsOf(body: unknown): EpochCredit[] {
  const rows = (body as { epochs?: unknown } | null)?.epochs;
  if (!Array.isArray(rows)) return [];
  const out: EpochCredit[] = [];
  for (const row of rows as Record<string, unknown>[]) {
    if (out.length === EPOCHS_ASKED) break;
    if (row === null || typeof row !== 'object' || typeof row.epoch !== 'number') continue;
    out.push({
      epoch: row.epoch,
      closedAtMs: typeof row.closedAtMs === 'number' ? row.closedAtMs : null,
      credit: num(row.credit),
      cumulative: num(row.cumulative),
      receipts: typeof row.receipts === 'number' ? row.receipts : null,
    });
  }
  return out;
}

function creditsOf(body: Record<string, unknown>, atMs: number): Omit<NodeCredits, 'epochs'> {
  const receipts: Record<string, number> = {};
  if (body.receipts !== null && typeof body.receipts === 'object') {
    for (const [k, v] of Object.entries(body.receipts)) receipts[k] = num(v);
  }
  const last = body.lastEpoch as { epoch?: unknown; cumulative?: unknown } | null | undefined;
  return {
    credited: num(body.credited),
    pending: num(body.pending),
    voided: num(body.voided),
    receipts,
    openChallenges: num(body.openChallenges),
    registered: typeof body.registered === 'boolean' ? body.registered : null,
    lastEpoch:
      last && typeof last.epoch === 'number' ? { epoch: last.epoch, cumulative: num(last.cumulative) } : null,
    atMs,
  };
}

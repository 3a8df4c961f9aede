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
  /** When the service answered, Unix epoch ms. */
  readonly atMs: number;
}

export type CreditsAnswer =
  | { readonly ok: true; readonly credits: NodeCredits }
  | { readonly ok: false; readonly error: string };

/** Asks the service; never throws: an unreachable or confused service is an answer too. */
export async function fetchNodeCredits(
  baseUrl: string,
  nodeId: string,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<CreditsAnswer> {
  const target = `${baseUrl.replace(/\/+$/, '')}/v1/nodes/${nodeId}`;
  try {
    const response = await fetch(target, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status === 404)
      return { ok: false, error: `${target}: the service does not know this node` };
    if (!response.ok) return { ok: false, error: `${target} answered HTTP ${response.status}` };
    const body = (await response.json()) as Record<string, unknown>;
    return { ok: true, credits: creditsOf(body, now()) };
  } catch (err) {
    const e = err as Error;
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : ((e.cause as Error | undefined)?.message ?? e.message);
    return { ok: false, error: `${baseUrl} unreachable (${why})` };
  }
}

function creditsOf(body: Record<string, unknown>, atMs: number): NodeCredits {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
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

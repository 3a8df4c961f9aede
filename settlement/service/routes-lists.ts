import type { ServerResponse } from 'node:http';
import { peerIdFromPublicKey } from '../../protocol/identity.js';
import {
  type EquivocationKey,
  listEquivocations,
  listSpotChecks,
  type SpotCheckKey,
} from '../store/ledger-flags.js';
import { isKnownNode, listEpochs, listNodeEpochs, listNodes } from '../store/ledger-lists.js';
import type { ServiceContext } from './context.js';
import { hex, sendError, sendJson } from './http-util.js';
import type {
  EpochList,
  EquivocationList,
  NodeEpochs,
  NodeList,
  SpotCheckList,
  SpotCheckState,
} from './list-types.js';
import { nodeKeyOf } from './routes.js';

/**
 * The read-only lists (docs/settlement.md "Lists"): GET /v1/epochs, /v1/nodes,
 * /v1/nodes/<node>/epochs, /v1/equivocations, /v1/spotchecks. Each takes `limit` (1–500,
 * default 50) and one cursor — `before` (or `after` for nodes, which are ordered by key) set
 * to the `next` of the page before. A query the list does not understand is refused with a
 * 400 naming the parameter and what it accepts, never ignored: a typo would otherwise look
 * like an empty ledger.
 */
export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 500;

const HEX64 = /^[0-9a-f]{64}$/;
const WHOLE = /^[0-9]{1,15}$/;

class BadQuery extends Error {}

/** The limit and the decoded cursor; throws BadQuery with a sentence saying how to fix it. */
function pageQuery<C>(
  query: URLSearchParams,
  cursorName: 'before' | 'after',
  cursorHelp: string,
  parse: (text: string) => C | undefined,
): { limit: number; cursor: C | undefined } {
  for (const name of query.keys()) {
    if (name !== 'limit' && name !== cursorName)
      throw new BadQuery(`unknown parameter "${name}"; this list takes limit and ${cursorName}`);
  }
  const limitText = query.get('limit');
  const limit = limitText === null ? DEFAULT_LIST_LIMIT : Number(limitText);
  if (limitText !== null && (!WHOLE.test(limitText) || limit < 1 || limit > MAX_LIST_LIMIT))
    throw new BadQuery(`limit "${limitText}" must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  const cursorText = query.get(cursorName);
  if (cursorText === null) return { limit, cursor: undefined };
  const cursor = parse(cursorText);
  if (cursor === undefined)
    throw new BadQuery(
      `${cursorName} "${cursorText}" is not ${cursorHelp}; pass the "next" of the page before`,
    );
  return { limit, cursor };
}

const epochNumber = (t: string): number | undefined => (WHOLE.test(t) ? Number(t) : undefined);

/** Answers a list, or the 400 its query earned. */
async function answer(res: ServerResponse, build: () => Promise<unknown>): Promise<void> {
  let body: unknown;
  try {
    body = await build();
  } catch (err) {
    if (err instanceof BadQuery) return sendError(res, 400, 'bad_query', err.message);
    throw err;
  }
  sendJson(res, 200, body, { 'cache-control': 'no-store' });
}

/** The cursor of the next page: only when this page came back full. */
function nextOf<T>(rows: readonly T[], limit: number, key: (last: T) => string): string | null {
  const last = rows[rows.length - 1];
  return rows.length === limit && last !== undefined ? key(last) : null;
}

const hexOrNull = (b: Uint8Array | null): string | null => (b === null ? null : hex(b));

export function getEpochList(ctx: ServiceContext, query: URLSearchParams, res: ServerResponse) {
  return answer(res, async (): Promise<EpochList> => {
    const { limit, cursor } = pageQuery(query, 'before', 'an epoch number', epochNumber);
    const rows = await listEpochs(ctx.db, limit, cursor);
    return {
      epochs: rows.map((r) => ({ ...r, rewardRoot: hexOrNull(r.rewardRoot) })),
      next: nextOf(rows, limit, (r) => String(r.epoch)),
    };
  });
}

export function getNodeList(ctx: ServiceContext, query: URLSearchParams, res: ServerResponse) {
  return answer(res, async (): Promise<NodeList> => {
    const { limit, cursor } = pageQuery(query, 'after', 'a 64-hex public key', (t) =>
      HEX64.test(t) ? new Uint8Array(Buffer.from(t, 'hex')) : undefined,
    );
    const rows = await listNodes(ctx.db, limit, cursor);
    return {
      nodes: rows.map(({ providerKey, ...r }) => ({
        node: peerIdFromPublicKey(providerKey),
        publicKey: hex(providerKey),
        ...r,
      })),
      next: nextOf(rows, limit, (r) => hex(r.providerKey)),
    };
  });
}

export async function getNodeEpochs(
  ctx: ServiceContext,
  node: string,
  query: URLSearchParams,
  res: ServerResponse,
): Promise<void> {
  const key = nodeKeyOf(node);
  if (key === undefined) {
    sendError(res, 400, 'bad_node', `"${node}" is neither a PeerId (12D3KooW…) nor a 64-hex public key`);
    return;
  }
  const peerId = peerIdFromPublicKey(key);
  if (!(await isKnownNode(ctx.db, key))) {
    sendError(res, 404, 'unknown_node', `node ${peerId} is not registered and has sent no receipts`);
    return;
  }
  await answer(res, async (): Promise<NodeEpochs> => {
    const { limit, cursor } = pageQuery(query, 'before', 'an epoch number', epochNumber);
    const rows = await listNodeEpochs(ctx.db, key, limit, cursor);
    return { node: peerId, epochs: rows, next: nextOf(rows, limit, (r) => String(r.epoch)) };
  });
}

/** `<detectedAtMs>.<batch>.<receipt hex>`: the order of the list, so no row is skipped or repeated. */
function equivocationKey(t: string): EquivocationKey | undefined {
  const [ms, batch, id, ...rest] = t.split('.');
  if (rest.length > 0 || ms === undefined || batch === undefined || id === undefined) return undefined;
  if (!WHOLE.test(ms) || !WHOLE.test(batch) || !HEX64.test(id)) return undefined;
  return {
    detectedAtMs: Number(ms),
    batchId: Number(batch),
    otherId: new Uint8Array(Buffer.from(id, 'hex')),
  };
}

export function getEquivocationList(ctx: ServiceContext, query: URLSearchParams, res: ServerResponse) {
  return answer(res, async (): Promise<EquivocationList> => {
    const { limit, cursor } = pageQuery(query, 'before', 'a cursor <ms>.<batch>.<64 hex>', equivocationKey);
    const rows = await listEquivocations(ctx.db, limit, cursor);
    return {
      equivocations: rows.map((r) => ({
        node: peerIdFromPublicKey(r.providerKey),
        publicKey: hex(r.providerKey),
        pipeline: r.pipeline,
        sequence: r.sequence,
        keptReceipt: hexOrNull(r.keptId),
        receipt: hex(r.otherId),
        detectedAtMs: r.detectedAtMs,
        differs: r.differs,
      })),
      next: nextOf(rows, limit, (r) => `${r.detectedAtMs}.${r.batchId}.${hex(r.otherId)}`),
    };
  });
}

/** `<epoch>.<receipt hex>`. */
function spotCheckKey(t: string): SpotCheckKey | undefined {
  const [epoch, id, ...rest] = t.split('.');
  if (rest.length > 0 || epoch === undefined || id === undefined) return undefined;
  if (!WHOLE.test(epoch) || !HEX64.test(id)) return undefined;
  return { epoch: Number(epoch), receiptId: new Uint8Array(Buffer.from(id, 'hex')) };
}

export function getSpotCheckList(ctx: ServiceContext, query: URLSearchParams, res: ServerResponse) {
  return answer(res, async (): Promise<SpotCheckList> => {
    const { limit, cursor } = pageQuery(query, 'before', 'a cursor <epoch>.<64 hex>', spotCheckKey);
    const rows = await listSpotChecks(ctx.db, limit, cursor);
    return {
      spotchecks: rows.map(({ providerKey, receiptId, state, ...r }) => ({
        node: peerIdFromPublicKey(providerKey),
        publicKey: hex(providerKey),
        receipt: hex(receiptId),
        state: state as SpotCheckState,
        ...r,
      })),
      next: nextOf(rows, limit, (r) => `${r.epoch}.${hex(r.receiptId)}`),
    };
  });
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServiceContext } from './context.js';
import { sendError, sendJson } from './http-util.js';
import { isPagePath, servePage } from './page-assets.js';
import { getChallenges, getEpoch, getNode, getProof, postBatch, postReveal } from './routes.js';
import {
  getEpochList,
  getEquivocationList,
  getNodeEpochs,
  getNodeList,
  getSpotCheckList,
} from './routes-lists.js';
import { postVouchers } from './routes-vouchers.js';

/**
 * The service's HTTP API (docs/settlement.md):
 *
 *   POST /v1/batches                    CBOR submission → CBOR [ackBytes, signature]
 *   GET  /v1/challenges/<node>          CBOR [[receiptId, deadlineMs], …]
 *   POST /v1/reveals                    CBOR [receiptId, input, output] → JSON verdict
 *   POST /v1/vouchers                   CBOR [[voucherBytes, signature], …] → JSON status each
 *   GET  /v1/nodes/<node>               JSON totals
 *   GET  /v1/epochs/latest | /<n>       JSON epoch statement
 *   GET  /v1/epochs/<n>/proof/<node>    JSON inclusion proof
 *   GET  /v1/service                    JSON service key and parameters
 *   GET  /v1/epochs                     JSON list: epochs, newest first, credit per close
 *   GET  /v1/nodes                      JSON list: known nodes with their credit, by key
 *   GET  /v1/nodes/<node>/epochs        JSON list: one node's credit per closed epoch
 *   GET  /v1/equivocations              JSON list: receipts signed twice for one slot
 *   GET  /v1/spotchecks                 JSON list: spot checks and how they ended
 *   GET  /healthz
 *   GET  /, /assets/<file>              the service's page (settlement/page)
 *
 * <node> is a PeerId or a 64-hex public key. Refusals are JSON {"error", "detail"}. The lists
 * take ?limit= (1–500, default 50) and a cursor (routes-lists.ts).
 */
export async function route(
  ctx: ServiceContext,
  req: IncomingMessage,
  res: ServerResponse,
  info: () => Record<string, unknown>,
): Promise<void> {
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  const path = mark < 0 ? url : url.slice(0, mark);
  const search = mark < 0 ? '' : url.slice(mark + 1);
  const parts = path.split('/').filter((p) => p !== '');
  const method = req.method ?? 'GET';
  const [v1, what, a, b, c] = parts;
  if (method === 'GET' && path === '/healthz') return sendJson(res, 200, { ok: true });
  if (isPagePath(path)) return servePage(ctx.pageDir, req, res, path);
  if (v1 !== 'v1') return notFound(res, method, path);
  if (method === 'POST' && what === 'batches' && a === undefined) return postBatch(ctx, req, res);
  if (method === 'POST' && what === 'reveals' && a === undefined) return postReveal(ctx, req, res);
  if (method === 'POST' && what === 'vouchers' && a === undefined) return postVouchers(ctx, req, res);
  if (method !== 'GET') return notFound(res, method, path);
  const query = new URLSearchParams(search);
  if (a === undefined) {
    if (what === 'epochs') return getEpochList(ctx, query, res);
    if (what === 'nodes') return getNodeList(ctx, query, res);
    if (what === 'equivocations') return getEquivocationList(ctx, query, res);
    if (what === 'spotchecks') return getSpotCheckList(ctx, query, res);
  }
  if (what === 'nodes' && a !== undefined && b === 'epochs' && c === undefined)
    return getNodeEpochs(ctx, a, query, res);
  if (what === 'challenges' && a !== undefined && b === undefined) return getChallenges(ctx, a, res);
  if (what === 'nodes' && a !== undefined && b === undefined) return getNode(ctx, a, res);
  if (what === 'epochs' && a !== undefined && b === undefined) return getEpoch(ctx, a, res);
  if (what === 'epochs' && a !== undefined && b === 'proof' && c !== undefined)
    return getProof(ctx, a, c, res);
  if (what === 'service' && a === undefined) return sendJson(res, 200, info());
  return notFound(res, method, path);
}

function notFound(res: ServerResponse, method: string, path: string): void {
  sendError(res, 404, 'not_found', `no ${method} ${path}; see docs/settlement.md for the API`);
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeSignedAck } from '../../protocol/ack.js';
import { decodeBatchHeader } from '../../protocol/batch.js';
import { peerIdFromPublicKey, publicKeyFromPeerId } from '../../protocol/identity.js';
import { decodeReveal, encodeChallenges, RevealError } from '../../protocol/reveal.js';
import { decodeSubmission } from '../../protocol/submission.js';
import { checkReveal } from '../spotcheck/check.js';
import { rewardProof } from '../store/ledger-epochs.js';
import {
  epochInfo,
  findChallenge,
  nodeSummary,
  openChallenges,
  resolveChallenge,
} from '../store/ledger-queries.js';
import type { ServiceContext } from './context.js';
import { BodyTooLargeError, hex, readBody, sendCbor, sendError, sendJson } from './http-util.js';
import { ingestSubmission } from './ingest.js';

const MAX_CHALLENGES_PER_ANSWER = 1_000;
const MAX_REVEAL_BYTES = 34 << 20;

const REJECTION_HTTP: Record<string, number> = {
  too_large: 413,
  malformed: 400,
  bad_signature: 401,
  unknown_node: 403,
  root_mismatch: 422,
};

/** A node named in a path: its PeerId (12D3KooW…) or its public key in hex. */
export function nodeKeyOf(text: string): Uint8Array | undefined {
  if (/^[0-9a-f]{64}$/i.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  try {
    return publicKeyFromPeerId(text);
  } catch {
    return undefined;
  }
}

/** The per-address rate limit of the submission routes; false (429 sent) when over it. */
export function admitAddress(ctx: ServiceContext, req: IncomingMessage, res: ServerResponse): boolean {
  const address = req.socket.remoteAddress ?? 'unknown';
  const wait = ctx.addressLimiter.waitMs(address);
  if (wait > 0) {
    sendError(res, 429, 'rate_limited', `too many requests from ${address}; retry in ${wait} ms`, {
      'retry-after': String(Math.ceil(wait / 1000)),
    });
    return false;
  }
  ctx.addressLimiter.charge(address);
  return true;
}

export async function postBatch(
  ctx: ServiceContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (!admitAddress(ctx, req, res)) return;
  let body: Uint8Array;
  try {
    body = await readBody(req, ctx.init.maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      ctx.count('too_large');
      sendError(
        res,
        413,
        'too_large',
        `a submission may be at most ${ctx.init.maxBodyBytes} bytes; cut smaller batches`,
      );
      return;
    }
    throw err;
  }
  await ingestAndAnswer(ctx, body, res);
}

/** The signer named in a submission's header, read without verifying anything; undefined if unreadable. */
function claimedProvider(body: Uint8Array): string | undefined {
  try {
    return hex(decodeBatchHeader(decodeSubmission(body).headerBytes).providerKey);
  } catch {
    return undefined;
  }
}

async function ingestAndAnswer(ctx: ServiceContext, body: Uint8Array, res: ServerResponse): Promise<void> {
  // The node's budget is checked before any work, but only batches whose signature verified
  // are charged to it: a stranger naming someone else's key cannot use up that node's rate.
  const claimed = claimedProvider(body);
  const wait = claimed === undefined ? 0 : ctx.nodeLimiter.waitMs(claimed);
  if (wait > 0) {
    ctx.count('rate_limited');
    sendError(res, 429, 'rate_limited', `node ${claimed} is sending batches too fast; retry in ${wait} ms`, {
      'retry-after': String(Math.ceil(wait / 1000)),
    });
    return;
  }
  const outcome = await ingestSubmission(body, ctx.ingestInit, ctx.ingestComponents);
  if (!outcome.ok) {
    ctx.count(outcome.status);
    ctx.log.warn(
      { status: outcome.status, detail: outcome.detail, provider: outcome.provider },
      'batch refused',
    );
    sendError(res, REJECTION_HTTP[outcome.status] ?? 400, outcome.status, outcome.detail);
    return;
  }
  ctx.nodeLimiter.charge(outcome.provider);
  let offloadRefused = 0;
  for (const v of outcome.verdicts) {
    ctx.count(v.status);
    if (v.detail !== undefined && v.status === 'valid') offloadRefused++;
  }
  if (offloadRefused > 0) {
    ctx.count('offload_refused');
    ctx.log.warn(
      {
        provider: outcome.provider,
        receipts: offloadRefused,
        reason: outcome.verdicts.find((v) => v.detail)?.detail,
      },
      'receipts stored without credit',
    );
  }
  ctx.count('batches');
  res.writeHead(200, { 'content-type': 'application/cbor' });
  res.end(encodeSignedAck(outcome.ack));
}

export async function getChallenges(ctx: ServiceContext, node: string, res: ServerResponse): Promise<void> {
  const key = nodeKeyOf(node);
  if (key === undefined) {
    sendError(res, 400, 'bad_node', `"${node}" is neither a PeerId (12D3KooW…) nor a 64-hex public key`);
    return;
  }
  sendCbor(res, encodeChallenges(await openChallenges(ctx.db, key, MAX_CHALLENGES_PER_ANSWER)));
}

export async function postReveal(
  ctx: ServiceContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let reveal: ReturnType<typeof decodeReveal>;
  try {
    reveal = decodeReveal(await readBody(req, MAX_REVEAL_BYTES));
  } catch (err) {
    if (err instanceof BodyTooLargeError || err instanceof RevealError) {
      sendError(
        res,
        err instanceof BodyTooLargeError ? 413 : 400,
        'malformed_reveal',
        (err as Error).message,
      );
      return;
    }
    throw err;
  }
  const challenge = await findChallenge(ctx.db, reveal.receiptId);
  if (challenge === undefined || challenge.state !== 'open') {
    const why = challenge === undefined ? 'was not challenged' : `is no longer open (${challenge.state})`;
    sendError(res, 404, 'no_open_challenge', `receipt ${hex(reveal.receiptId)} ${why}`);
    return;
  }
  const verdict = await checkReveal(challenge.receipt, reveal, ctx.registry, ctx.init.tolerance);
  const reason = verdict.ok ? undefined : verdict.reason;
  await resolveChallenge(ctx.db, reveal.receiptId, {
    ...(reason === undefined ? { passed: true } : { passed: false, reason }),
    atMs: ctx.ingestComponents.now(),
  });
  ctx.count(verdict.ok ? 'reveals_passed' : 'reveals_failed');
  if (reason !== undefined)
    ctx.log.warn({ receipt: hex(reveal.receiptId), reason }, 'spot check failed; batch voided');
  sendJson(res, 200, reason === undefined ? { status: 'passed' } : { status: 'failed', reason });
}

export async function getNode(ctx: ServiceContext, node: string, res: ServerResponse): Promise<void> {
  const key = nodeKeyOf(node);
  if (key === undefined) {
    sendError(res, 400, 'bad_node', `"${node}" is neither a PeerId (12D3KooW…) nor a 64-hex public key`);
    return;
  }
  sendJson(res, 200, { node: peerIdFromPublicKey(key), ...(await nodeSummary(ctx.db, key)) });
}

export async function getEpoch(ctx: ServiceContext, which: string, res: ServerResponse): Promise<void> {
  const n = which === 'latest' ? 'latest' : Number(which);
  if (n !== 'latest' && !Number.isSafeInteger(n)) {
    sendError(res, 400, 'bad_epoch', `"${which}" is not an epoch number`);
    return;
  }
  const e = await epochInfo(ctx.db, n);
  if (e === undefined) {
    sendError(res, 404, 'no_epoch', n === 'latest' ? 'no epoch has closed yet' : `epoch ${n} does not exist`);
    return;
  }
  const h = (b: Uint8Array | null) => (b === null ? null : hex(b));
  sendJson(res, 200, {
    epoch: e.epoch,
    openedAtMs: e.openedAtMs,
    closedAtMs: e.closedAtMs,
    seed: h(e.seed),
    seedCommitment: h(e.seedCommitment),
    rewardRoot: h(e.rewardRoot),
    leafCount: e.leafCount,
    statement: h(e.statement),
    signature: h(e.signature),
  });
}

export async function getProof(
  ctx: ServiceContext,
  epoch: string,
  node: string,
  res: ServerResponse,
): Promise<void> {
  const key = nodeKeyOf(node);
  const n = Number(epoch);
  if (key === undefined || !Number.isSafeInteger(n)) {
    sendError(res, 400, 'bad_request', 'use /v1/epochs/<number>/proof/<PeerId or hex key>');
    return;
  }
  const proof = await rewardProof(ctx.db, n, key);
  if (proof === undefined) {
    sendError(
      res,
      404,
      'no_leaf',
      `epoch ${n} is not closed, or has no credit for ${peerIdFromPublicKey(key)}`,
    );
    return;
  }
  sendJson(res, 200, {
    epoch: proof.epoch,
    node: peerIdFromPublicKey(key),
    providerKey: hex(key),
    cumulative: proof.cumulative,
    leafIndex: proof.leafIndex,
    leafCount: proof.leafCount,
    proof: proof.proof.map(hex),
    rewardRoot: hex(proof.rewardRoot),
  });
}

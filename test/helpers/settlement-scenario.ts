import { encodeReceipt, type Receipt, receiptId } from '../../protocol/receipt.js';
import { encodeReveal, type Reveal } from '../../protocol/reveal.js';
import { submissionOf, testIdentity } from './receipts.js';
import type { TestSettlement } from './settlement-service.js';
import { EXAMPLE_MANIFESTS, honestJob, recommit } from './spotcheck.js';

/**
 * One small history of a settlement service that spot-checks every receipt, told through
 * its HTTP API, for the list endpoints and the page to show:
 *
 *   epoch 1  node A sends an honest receipt (3 windows, pipeline `pipeline`) and one whose
 *            output was made up (2 windows), and then a second body for the honest one's
 *            slot (an equivocation); node B sends an honest receipt it will never reveal.
 *            The close challenges all three stored receipts.
 *   reveals  A's honest one passes, A's lie fails.
 *   epoch 2  closes after B's deadline: B's challenge is missed, A's honest batch credited.
 *
 * The service must run with spotCheckPpm 1,000,000 and a clock `advance` moves.
 */
export const NODE_A = testIdentity(1);
export const NODE_B = testIdentity(3);
export const REVEAL_WINDOW_MS = 60_000;

export interface SpotCheckStory {
  readonly honestId: string;
  readonly lieId: string;
  readonly missedId: string;
  readonly equivocationId: string;
}

async function post(url: string, body: Uint8Array, path: string): Promise<Response> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/cbor' },
  });
  if (res.status !== 200) throw new Error(`POST ${path} answered ${res.status}: ${await res.text()}`);
  return res;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export async function runSpotCheckStory(
  s: TestSettlement,
  advance: (ms: number) => void,
  pipeline: string,
  nowMs: number,
): Promise<SpotCheckStory> {
  const manifest = EXAMPLE_MANIFESTS[0] as string;
  const honest = await honestJob(manifest, 3, 1);
  const liar = await honestJob(manifest, 2, 2);
  const lie = recommit(liar, { output: new Uint8Array(liar.reveal.output.length).fill(0x3f) });
  const forB = await honestJob(manifest, 1, 1);
  // Local work (consumer = provider), so credit does not wait for a voucher.
  const body = (r: Receipt, over: Partial<Receipt>) =>
    encodeReceipt({ ...r, startTimeMs: nowMs, consumerKey: r.providerKey, ...over });
  const honestBody = body(honest.receipt, { pipelineId: pipeline });
  const lieBody = body(lie.receipt, {});
  const twinBody = body(honest.receipt, { pipelineId: pipeline, startTimeMs: nowMs + 1 });
  const bKey = NODE_B.publicKey;
  const bBody = body(forB.receipt, { providerKey: bKey, consumerKey: bKey });
  await post(s.url, submissionOf(NODE_A, [honestBody], 1), '/v1/batches');
  await post(s.url, submissionOf(NODE_A, [lieBody], 2), '/v1/batches');
  await post(s.url, submissionOf(NODE_A, [twinBody], 3), '/v1/batches');
  await post(s.url, submissionOf(NODE_B, [bBody], 1), '/v1/batches');
  await s.service.closeEpoch();
  advance(1_000);
  const reveal = (b: Uint8Array, r: Reveal) => encodeReveal({ ...r, receiptId: receiptId(b) });
  await post(s.url, reveal(honestBody, honest.reveal), '/v1/reveals');
  await post(s.url, reveal(lieBody, lie.reveal), '/v1/reveals');
  advance(REVEAL_WINDOW_MS + 1_000);
  await s.service.closeEpoch();
  return {
    honestId: hex(receiptId(honestBody)),
    lieId: hex(receiptId(lieBody)),
    missedId: hex(receiptId(bBody)),
    equivocationId: hex(receiptId(twinBody)),
  };
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAckResponse } from '../../../agent/receipts/sender.js';
import { decodeAck } from '../../../protocol/ack.js';
import { encodeCbor } from '../../../protocol/cbor.js';
import { signVoucher } from '../../../protocol/voucher.js';
import { receiptBody, submissionOf, testIdentity } from '../../helpers/receipts.js';
import { startTestSettlement, type TestSettlement } from '../../helpers/settlement-service.js';
import type { StoreKind } from '../../helpers/settlement-store.js';
import { EXAMPLE_MANIFESTS, honestJob } from '../../helpers/spotcheck.js';

const provider = testIdentity(1);
const consumer = testIdentity(2);
const SESSION = new Uint8Array(16).fill(0x5c);
const PIPELINE = `offload/${Buffer.from(SESSION).toString('hex')}`;
const NOW = Date.now();

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field below.
type Json = any;
const post = async (url: string, path: string, body: Uint8Array) => {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/cbor' },
  });
  return { status: res.status, json: (await res.json()) as Json };
};
const voucher = (sequence: number, jobs: number) =>
  signVoucher(
    {
      consumerKey: consumer.publicKey,
      providerKey: provider.publicKey,
      sessionId: SESSION,
      sequence,
      jobs,
      computeUs: jobs * 1_500,
      highestReceiptSequence: jobs,
      issuedAtMs: NOW,
    },
    consumer.secretKey,
  );
const pair = (v: ReturnType<typeof voucher>) => [v.voucherBytes, v.signature];

describe.each<StoreKind>(['embedded', 'postgres'])('POST /v1/vouchers on the %s store', (store) => {
  let s: TestSettlement;
  let model: Uint8Array;
  beforeAll(async () => {
    s = await startTestSettlement({ store, init: { spotCheckPpm: 0 } });
    model = Buffer.from((await honestJob(EXAMPLE_MANIFESTS[0] as string, 1)).modelSha256Hex, 'hex');
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answers a status per voucher and credits offloaded work up to the latest one', async () => {
    const bodies = [1, 2, 3].map((seq) =>
      receiptBody({ provider, consumer }, seq, {
        pipelineId: PIPELINE,
        modelSha256: model,
        startTimeMs: NOW,
      }),
    );
    const stray = receiptBody({ provider, consumer }, 9, { modelSha256: model, startTimeMs: NOW });
    const batch = await fetch(`${s.url}/v1/batches`, {
      method: 'POST',
      body: submissionOf(provider, [...bodies, stray]),
    });
    const ack = decodeAck(decodeAckResponse(new Uint8Array(await batch.arrayBuffer())).ackBytes);
    expect(ack.receipts.map((r) => r.status)).toEqual(['valid', 'valid', 'valid', 'valid']);
    const forged = [voucher(3, 3).voucherBytes, new Uint8Array(64).fill(9)];
    const res = await post(
      s.url,
      '/v1/vouchers',
      encodeCbor([pair(voucher(1, 1)), pair(voucher(2, 2)), forged, pair(voucher(1, 1))]),
    );
    expect(res.status).toBe(200);
    expect(res.json.vouchers.map((v: { status: string }) => v.status)).toEqual([
      'stored',
      'stored',
      'bad_signature',
      'stale',
    ]);
    await s.service.closeEpoch();
    const node: Json = await (await fetch(`${s.url}/v1/nodes/${provider.peerId}`)).json();
    expect(node.credited).toBe(2);
    expect(node.offload).toMatchObject({
      sessions: 1,
      vouchedReceipts: 2,
      withheldReceipts: 1,
      refusedReceipts: 1,
    });
    expect(node.offload.refusedReason).toMatch(/not an offload session/);
  });

  it('refuses a body that is not a list of [voucherBytes, signature] pairs', async () => {
    for (const body of [new Uint8Array([0xff]), encodeCbor([]), encodeCbor([[new Uint8Array(3)]])]) {
      const res = await post(s.url, '/v1/vouchers', body);
      expect({ status: res.status, error: res.json.error }).toEqual({ status: 400, error: 'malformed' });
    }
  });
});

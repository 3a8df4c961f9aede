import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAckResponse } from '../../../agent/receipts/sender.js';
import { createDatabase, type PostgresServer, startPostgres } from '../../../bench/lib/postgres-server.js';
import { decodeAck } from '../../../protocol/ack.js';
import { DEFAULT_SETTLEMENT_INIT } from '../../../settlement/service/context.js';
import { createSettlementService, type SettlementService } from '../../../settlement/service/service.js';
import { quietLogger } from '../../helpers/broker.js';
import { receiptBody, submissionOf, testIdentity } from '../../helpers/receipts.js';
import { EXAMPLE_MANIFESTS, honestJob } from '../../helpers/spotcheck.js';

const provider = testIdentity(3);

async function post(url: string, body: Uint8Array) {
  const res = await fetch(`${url}/v1/batches`, { method: 'POST', body });
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}

describe('settlement service when its PostgreSQL server restarts', () => {
  let pg: PostgresServer;
  let service: SettlementService;
  let model: Uint8Array;
  const batch = (seq: number) =>
    submissionOf(
      provider,
      [receiptBody({ provider, consumer: provider }, seq, { modelSha256: model, startTimeMs: Date.now() })],
      seq,
    );

  beforeAll(async () => {
    pg = await startPostgres({ fast: true });
    model = Buffer.from((await honestJob(EXAMPLE_MANIFESTS[0] as string, 1)).modelSha256Hex, 'hex');
    service = createSettlementService(
      { ...DEFAULT_SETTLEMENT_INIT, port: 0, epochMs: 0 },
      {
        logger: quietLogger,
        dataDir: await mkdtemp(path.join(tmpdir(), 'fm-settlement-restart-')),
        databaseUrl: await createDatabase(pg.url, 'restart'),
        models: EXAMPLE_MANIFESTS.map((manifest) => ({ manifest })),
      },
    );
    await service.start();
  });
  afterAll(async () => {
    await service?.stop();
    await pg?.stop();
  });

  it('answers 503 while the database is down, keeps running, and credits again once it is back', async () => {
    expect((await post(service.url, batch(1))).status).toBe(200);
    await pg.halt();
    const down = await post(service.url, batch(2));
    expect(down.status).toBe(503);
    expect(JSON.parse(Buffer.from(down.body).toString()).error).toBe('unavailable');
    await pg.start();
    // The agent retries the same bytes; the pool replaces its dead connections.
    const again = await post(service.url, batch(2));
    expect(again.status).toBe(200);
    expect(decodeAck(decodeAckResponse(again.body).ackBytes).receipts[0]?.status).toBe('valid');
    const node = (await (await fetch(`${service.url}/v1/nodes/${provider.peerId}`)).json()) as {
      receipts: Record<string, number>;
    };
    expect(node.receipts).toEqual({ valid: 2 });
  });
});

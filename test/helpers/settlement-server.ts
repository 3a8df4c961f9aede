import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeAckResponse } from '../../agent/receipts/sender.js';
import { batchHeaderHash, signAck } from '../../protocol/ack.js';
import type { NodeIdentity } from '../../protocol/identity.js';
import type { Receipt } from '../../protocol/receipt.js';
import { verifySubmission } from '../../settlement/verify/verify-submission.js';

/**
 * A settlement service on a real socket for agent tests: POST /v1/batches runs the real
 * verification rules and answers a real signed ack; GET /v1/nodes/<id> answers `nodeAnswer`.
 */
export class FakeSettlementService {
  /** Every receipt credited (status valid), in arrival order. */
  readonly credited: Receipt[] = [];
  /** Every status the service gave, in arrival order. */
  readonly statuses: string[] = [];
  batches = 0;
  nodeAnswer: Record<string, unknown> | null = null;
  private readonly known = new Map<string, { bodyHex: string }>();
  private readonly slots = new Map<string, string>();
  private readonly server: Server;
  url = '';

  constructor(private readonly key: NodeIdentity) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Listens on 127.0.0.1 and `port` (0: any free); `url` is the base URL. */
  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method === 'GET' && req.url?.startsWith('/v1/nodes/')) {
      if (this.nodeAnswer === null) return void res.writeHead(404).end('unknown node');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.nodeAnswer));
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v1/batches') return void res.writeHead(404).end();
    const now = Date.now();
    const result = verifySubmission(new Uint8Array(Buffer.concat(chunks)), {
      nowMs: now,
      maxPastMs: 86_400_000,
      maxFutureMs: 60_000,
      known: (id) => this.known.get(id),
      seenSlot: (provider, pipeline, sequence) => this.slots.get(`${provider}/${pipeline}/${sequence}`),
    });
    if (!result.ok) return void res.writeHead(400).end(`${result.status}: ${result.detail}`);
    this.batches++;
    for (const v of result.receipts) {
      this.statuses.push(v.status);
      if (v.status !== 'valid' || v.receipt === undefined) continue;
      this.known.set(v.idHex, { bodyHex: '' });
      this.slots.set(`${result.provider}/${v.receipt.pipelineId}/${v.receipt.sequence}`, v.idHex);
      this.credited.push(v.receipt);
    }
    const signed = signAck(
      {
        batchHeaderHash: batchHeaderHash(result.headerBytes),
        providerKey: result.header.providerKey,
        receipts: result.receipts.map((v) => ({ receiptId: v.id, status: v.status })),
        acceptedAtMs: now,
      },
      this.key.secretKey,
    );
    res.writeHead(200, { 'content-type': 'application/cbor' }).end(encodeAckResponse(signed));
  }
}

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOutbox, type Outbox } from '../../../agent/receipts/outbox.js';
import {
  createSettlementSender,
  decodeAckResponse,
  encodeAckResponse,
  type SettlementSender,
  type SettlementSenderInit,
} from '../../../agent/receipts/sender.js';
import { batchHeaderHash, signAck } from '../../../protocol/ack.js';
import { hasCode } from '../../../protocol/errors.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import { verifySubmission } from '../../../settlement/verify/verify-submission.js';
import { receiptBody } from '../../helpers/receipts.js';

const node = identityFromSeed(new Uint8Array(32).fill(1));
const consumer = identityFromSeed(new Uint8Array(32).fill(2));
const service = identityFromSeed(new Uint8Array(32).fill(3));
const impostor = identityFromSeed(new Uint8Array(32).fill(4));
const NOW = 1_700_000_000_000;

function body(sequence: number): Uint8Array {
  return receiptBody({ provider: node, consumer }, sequence, { startTimeMs: NOW + sequence });
}

/** What the test server does with one request. */
type Behaviour = 'ok' | 'drop' | 'hang' | 'wrong-key' | 'garbage' | number;

/** A settlement service on a real socket, running the real verification rules. */
class SettlementServer {
  readonly requests: Buffer[] = [];
  /** Receipt id hex → times credited (status valid). */
  readonly credited = new Map<string, number>();
  private readonly known = new Map<string, { bodyHex: string }>();
  private readonly slots = new Map<string, string>();
  private readonly server: Server;
  url = '';

  constructor(private readonly script: Behaviour[]) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/v1/batches`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    this.requests.push(bytes);
    const behaviour = this.script.shift() ?? 'ok';
    if (behaviour === 'drop') return void req.socket.destroy();
    if (behaviour === 'hang') return;
    if (typeof behaviour === 'number') {
      res
        .writeHead(behaviour, { 'content-type': 'text/plain' })
        .end(`scripted ${behaviour}: node not registered`);
      return;
    }
    if (behaviour === 'garbage') return void res.writeHead(200).end('not cbor');
    const result = verifySubmission(new Uint8Array(bytes), {
      nowMs: NOW,
      maxPastMs: 86_400_000,
      maxFutureMs: 86_400_000,
      known: (id) => this.known.get(id),
      seenSlot: (provider, pipeline, sequence) => this.slots.get(`${provider}/${pipeline}/${sequence}`),
    });
    if (!result.ok) {
      res.writeHead(400).end(`${result.status}: ${result.detail}`);
      return;
    }
    for (const v of result.receipts) {
      if (v.status !== 'valid' || v.receipt === undefined) continue;
      const r = v.receipt;
      this.known.set(v.idHex, { bodyHex: '' });
      this.slots.set(`${result.provider}/${r.pipelineId}/${r.sequence}`, v.idHex);
      this.credited.set(v.idHex, (this.credited.get(v.idHex) ?? 0) + 1);
    }
    const signed = signAck(
      {
        batchHeaderHash: batchHeaderHash(result.headerBytes),
        providerKey: result.header.providerKey,
        receipts: result.receipts.map((v) => ({ receiptId: v.id, status: v.status })),
        acceptedAtMs: NOW,
      },
      behaviour === 'wrong-key' ? impostor.secretKey : service.secretKey,
    );
    res.writeHead(200, { 'content-type': 'application/cbor' }).end(encodeAckResponse(signed));
  }
}

let dir: string;
let outbox: Outbox;
let server: SettlementServer | undefined;
let logLines: string[];
let sleeps: number[];

const logger = (): pino.Logger =>
  pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    }),
  );

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fieldmesh-sender-'));
  logLines = [];
  sleeps = [];
  outbox = createOutbox(
    { dir, maxDiskBytes: 1_000_000, policy: { maxReceipts: 3, maxAgeMs: 0, maxBytes: 1_000_000 } },
    { logger: pino({ level: 'silent' }), now: () => NOW, identity: node },
  );
  await outbox.start();
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await outbox.stop();
  await rm(dir, { recursive: true, force: true });
});

async function setup(
  script: Behaviour[],
  overrides: Partial<SettlementSenderInit> = {},
  sleep?: (ms: number) => Promise<void>,
): Promise<{ sender: SettlementSender; srv: SettlementServer }> {
  const srv = new SettlementServer(script);
  await srv.listen();
  server = srv;
  const sender = createSettlementSender(
    {
      url: srv.url,
      servicePublicKey: service.publicKey,
      requestTimeoutMs: 5_000,
      backoff: { minMs: 1, maxMs: 50 },
      ...overrides,
    },
    {
      outbox,
      logger: logger(),
      random: () => 0.5,
      sleep:
        sleep ??
        (async (ms) => {
          sleeps.push(ms);
        }),
    },
  );
  return { sender, srv };
}

async function appendAll(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(Buffer.from((await outbox.append(body(i))).id).toString('hex'));
  return ids;
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

function expectEachCreditedOnce(srv: SettlementServer, ids: readonly string[]): void {
  expect([...srv.credited.keys()].sort()).toEqual([...ids].sort());
  expect([...srv.credited.values()].every((n) => n === 1)).toBe(true);
}

describe('settlement sender', () => {
  it('drains every receipt in batches until the outbox is empty', async () => {
    const ids = await appendAll(7);
    const { sender, srv } = await setup([]);
    await sender.drain();
    expect(srv.requests).toHaveLength(3);
    expectEachCreditedOnce(srv, ids);
    expect(outbox.stats().pendingReceipts).toBe(0);
    expect(outbox.stats().inFlightBatchSequence).toBeNull();
    expect(await sender.drainOnce()).toEqual({ sent: false, removed: 0 });
  });

  it('drainOnce sends one batch and reports what the ack removed', async () => {
    await appendAll(4);
    const { sender } = await setup([]);
    expect(await sender.drainOnce()).toEqual({ sent: true, removed: 3 });
    expect(outbox.stats().pendingReceipts).toBe(1);
  });

  it('retries 503s with backoff, re-sending the same batch bytes, and credits once', async () => {
    const ids = await appendAll(3);
    const { sender, srv } = await setup([503, 503]);
    await sender.drain();
    expect(srv.requests).toHaveLength(3);
    expect(srv.requests[1]?.equals(srv.requests[0]!)).toBe(true);
    expect(srv.requests[2]?.equals(srv.requests[0]!)).toBe(true);
    expectEachCreditedOnce(srv, ids);
    expect(outbox.stats().pendingReceipts).toBe(0);
    expect(sleeps).toHaveLength(2);
    for (const ms of sleeps) expect(ms >= 1 && ms <= 50).toBe(true);
  });

  it('retries a 429', async () => {
    const ids = await appendAll(3);
    const { sender, srv } = await setup([429]);
    await sender.drain();
    expect(srv.requests).toHaveLength(2);
    expectEachCreditedOnce(srv, ids);
  });

  it('retries after the service drops the connection', async () => {
    const ids = await appendAll(3);
    const { sender, srv } = await setup(['drop']);
    await sender.drain();
    expect(srv.requests).toHaveLength(2);
    expect(srv.requests[1]?.equals(srv.requests[0]!)).toBe(true);
    expectEachCreditedOnce(srv, ids);
    expect(outbox.stats().pendingReceipts).toBe(0);
  });

  it('abandons a request that gets no answer within requestTimeoutMs and retries it', async () => {
    const ids = await appendAll(3);
    const { sender, srv } = await setup(['hang'], { requestTimeoutMs: 200 });
    await sender.drain();
    expect(srv.requests).toHaveLength(2);
    expectEachCreditedOnce(srv, ids);
    expect(logLines.some((l) => l.includes('no answer within 200 ms'))).toBe(true);
  });

  it('treats a 400 as a permanent refusal: clear error, logged body, outbox unchanged', async () => {
    await appendAll(3);
    const { sender, srv } = await setup([400]);
    const before = outbox.stats();
    const err = await caught(sender.drain());
    expect(hasCode(err, 'SETTLEMENT_REFUSED')).toBe(true);
    expect((err as Error).message).toContain(srv.url);
    expect((err as Error).message).toContain('HTTP 400');
    expect((err as Error).message).toContain('node not registered');
    expect(srv.requests).toHaveLength(1);
    // The batch was cut (in flight) but nothing was acknowledged or removed.
    expect(outbox.stats()).toEqual({ ...before, inFlightBatchSequence: 0 });
    expect(before.pendingReceipts).toBe(3);
    expect(logLines.some((l) => l.includes('scripted 400: node not registered'))).toBe(true);
  });

  it('rejects an ack signed by another key and removes nothing', async () => {
    await appendAll(3);
    const { sender, srv } = await setup(['wrong-key']);
    const err = await caught(sender.drain());
    expect(hasCode(err, 'SETTLEMENT_ACK_REJECTED')).toBe(true);
    expect((err as Error).message).toContain(srv.url);
    expect(srv.requests).toHaveLength(1);
    expect(outbox.stats().pendingReceipts).toBe(3);
    expect(outbox.stats().inFlightBatchSequence).toBe(0);
  });

  it('rejects a 200 whose body is not an [ackBytes, signature] pair', async () => {
    await appendAll(3);
    const { sender } = await setup(['garbage']);
    expect(hasCode(await caught(sender.drainOnce()), 'SETTLEMENT_ACK_REJECTED')).toBe(true);
    expect(outbox.stats().pendingReceipts).toBe(3);
  });

  it('stops retrying once stopped, leaving the batch queued', async () => {
    await appendAll(3);
    let sender: SettlementSender | undefined;
    const setupResult = await setup([503, 503, 503], {}, async () => {
      sender?.stop();
    });
    sender = setupResult.sender;
    await sender.drain();
    expect(setupResult.srv.requests).toHaveLength(1);
    expect(outbox.stats().pendingReceipts).toBe(3);
    expect(hasCode(await caught(sender.drainOnce()), 'SETTLEMENT_SENDER_STOPPED')).toBe(true);
  });

  it('stop() cuts the default backoff timer short', async () => {
    await appendAll(3);
    const srv = new SettlementServer([503]);
    await srv.listen();
    server = srv;
    const sender = createSettlementSender(
      {
        url: srv.url,
        servicePublicKey: service.publicKey,
        requestTimeoutMs: 5_000,
        backoff: { minMs: 60_000, maxMs: 60_000 },
      },
      { outbox, logger: logger() },
    );
    const drained = sender.drain();
    await expect.poll(() => logLines.some((l) => l.includes('retrying the same batch'))).toBe(true);
    sender.stop();
    await drained;
    expect(outbox.stats().pendingReceipts).toBe(3);
  });

  it('refuses unusable settings, naming every field', () => {
    let err: unknown;
    try {
      createSettlementSender(
        {
          url: 'ftp://x',
          servicePublicKey: new Uint8Array(3),
          requestTimeoutMs: 0,
          backoff: { minMs: 0, maxMs: 1 },
        },
        { outbox, logger: pino({ level: 'silent' }) },
      );
    } catch (e) {
      err = e;
    }
    expect(hasCode(err, 'SETTLEMENT_SENDER_CONFIG_INVALID')).toBe(true);
    const message = (err as Error).message;
    for (const field of ['url', 'servicePublicKey', 'requestTimeoutMs', 'backoff'])
      expect(message).toContain(field);
  });

  it('round-trips the ack response body', () => {
    const signed = { ackBytes: new Uint8Array([1, 2, 3]), signature: new Uint8Array(64).fill(9) };
    expect(decodeAckResponse(encodeAckResponse(signed))).toEqual(signed);
    expect(() => decodeAckResponse(new Uint8Array([0x80]))).toThrow(/\[ackBytes, signature\]/);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ChallengeResponder, createChallengeResponder } from '../../../agent/receipts/challenges.js';
import { createTensorRetention, type TensorRetention } from '../../../agent/receipts/retention.js';
import { decodeReveal, encodeChallenges, type Reveal } from '../../../protocol/reveal.js';

const PROVIDER = 'ab'.repeat(32);
const id = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

interface Reply {
  status: number;
  type?: string;
  body?: Uint8Array | string;
}

/** A stand-in settlement service: serves the two endpoints and records what it was sent. */
interface FakeService {
  url: string;
  challenges: () => Reply | 'hang';
  verdict: (reveal: Reveal) => Reply;
  polls: string[];
  reveals: { contentType: string | undefined; reveal: Reveal }[];
}

let server: Server;
let service: FakeService;
let dir: string;
let retention: TensorRetention;
let responder: ChallengeResponder;
let logs: { level: number; msg: string; receiptId?: string; reason?: string }[];

const logger = () => pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

function send(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, reply.type === undefined ? {} : { 'content-type': reply.type });
  res.end(reply.body ?? '');
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === 'GET' && req.url?.startsWith('/v1/challenges/')) {
    service.polls.push(req.url);
    const reply = service.challenges();
    if (reply !== 'hang') send(res, reply);
    return;
  }
  if (req.method === 'POST' && req.url === '/v1/reveals') {
    const reveal = decodeReveal(await readBody(req));
    service.reveals.push({ contentType: req.headers['content-type'], reveal });
    send(res, service.verdict(reveal));
    return;
  }
  send(res, { status: 404 });
}

const cbor = (list: { receiptId: Uint8Array; deadlineMs: number }[]): Reply => ({
  status: 200,
  type: 'application/cbor',
  // The tests put receipt n with sequence n.
  body: encodeChallenges(list.map((c) => ({ ...c, sequence: c.receiptId[0]! }))),
});
const json = (value: unknown): Reply => ({
  status: 200,
  type: 'application/json',
  body: JSON.stringify(value),
});

beforeEach(async () => {
  logs = [];
  dir = await mkdtemp(join(tmpdir(), 'fieldmesh-challenges-'));
  retention = createTensorRetention(
    { dir, maxBytes: 1_000_000, retentionMs: 3_600_000 },
    { logger: logger(), now: () => Date.now() },
  );
  await retention.start();
  server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  service = {
    url: `http://127.0.0.1:${port}`,
    challenges: () => ({ status: 404 }),
    verdict: () => json({ status: 'passed' }),
    polls: [],
    reveals: [],
  };
  responder = createChallengeResponder(
    { baseUrl: `${service.url}/`, providerKeyHex: PROVIDER, requestTimeoutMs: 2_000 },
    { retention, logger: logger() },
  );
});

afterEach(async () => {
  responder.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await retention.stop();
  await rm(dir, { recursive: true, force: true });
});

const missingWarnings = () => logs.filter((l) => l.msg.startsWith('cannot reveal challenged receipt'));

describe('challenge responder', () => {
  it('reveals retained tensors and reports the ones it no longer has', async () => {
    retention.put(id(1), 1, Uint8Array.of(1, 2, 3, 4), Uint8Array.of(5, 6));
    service.challenges = () =>
      cbor([
        { receiptId: id(1), deadlineMs: 10 },
        { receiptId: id(2), deadlineMs: 10 },
      ]);
    expect(await responder.pollOnce()).toEqual({ challenged: 2, revealed: 1, missing: 1, failed: 0 });
    expect(service.polls).toEqual([`/v1/challenges/${PROVIDER}`]);
    expect(service.reveals).toEqual([
      {
        contentType: 'application/cbor',
        reveal: { receiptId: id(1), input: Uint8Array.of(1, 2, 3, 4), output: Uint8Array.of(5, 6) },
      },
    ]);
    expect(missingWarnings()).toEqual([expect.objectContaining({ receiptId: hex(id(2)) })]);
    expect(missingWarnings()[0]!.msg).toMatch(/evicted or never stored\): the batch will lose its credit/);
  });

  it('warns once per receipt it cannot reveal, however often it is challenged', async () => {
    service.challenges = () => cbor([{ receiptId: id(2), deadlineMs: 10 }]);
    await responder.pollOnce();
    expect(await responder.pollOnce()).toEqual({ challenged: 1, revealed: 0, missing: 1, failed: 0 });
    expect(missingWarnings()).toHaveLength(1);
  });

  it('treats 404 as no challenges', async () => {
    expect(await responder.pollOnce()).toEqual({ challenged: 0, revealed: 0, missing: 0, failed: 0 });
    expect(service.polls).toHaveLength(1);
  });

  it.each<[string, Reply]>([
    ['a server error', { status: 500, body: 'boom' }],
    [
      'a body that is not a challenge list',
      { status: 200, type: 'application/cbor', body: Uint8Array.of(0xa0) },
    ],
  ])('counts %s as failed without throwing', async (_what, reply) => {
    service.challenges = () => reply;
    expect(await responder.pollOnce()).toEqual({ challenged: 0, revealed: 0, missing: 0, failed: 1 });
  });

  it('counts a reveal the service judges failed, and logs its reason', async () => {
    retention.put(id(1), 1, Uint8Array.of(1), Uint8Array.of(2));
    service.challenges = () => cbor([{ receiptId: id(1), deadlineMs: 10 }]);
    service.verdict = () => json({ status: 'failed', reason: 'output "score" element 0 is 1 …' });
    expect(await responder.pollOnce()).toEqual({ challenged: 1, revealed: 0, missing: 0, failed: 1 });
    expect(logs.find((l) => l.msg.startsWith('spot check failed'))?.reason).toMatch(/element 0/);
  });

  it('counts a refused or unreadable reveal answer as failed', async () => {
    retention.put(id(1), 1, Uint8Array.of(1), Uint8Array.of(2));
    retention.put(id(2), 2, Uint8Array.of(1), Uint8Array.of(2));
    service.challenges = () =>
      cbor([
        { receiptId: id(1), deadlineMs: 10 },
        { receiptId: id(2), deadlineMs: 10 },
      ]);
    service.verdict = (r) => (r.receiptId[0] === 1 ? { status: 409, body: 'too late' } : json({ ok: true }));
    expect(await responder.pollOnce()).toEqual({ challenged: 2, revealed: 0, missing: 0, failed: 2 });
  });

  it('returns without throwing when the service is unreachable', async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    expect(await responder.pollOnce()).toEqual({ challenged: 0, revealed: 0, missing: 0, failed: 0 });
    expect(logs.some((l) => l.msg.startsWith('cannot fetch spot-check challenges'))).toBe(true);
    server.listen(0); // afterEach closes it again
  });

  it('gives up on a service that does not answer within requestTimeoutMs', async () => {
    const slow = createChallengeResponder(
      { baseUrl: service.url, providerKeyHex: PROVIDER, requestTimeoutMs: 200 },
      { retention, logger: logger() },
    );
    service.challenges = () => 'hang';
    const started = Date.now();
    expect(await slow.pollOnce()).toEqual({ challenged: 0, revealed: 0, missing: 0, failed: 0 });
    expect(Date.now() - started).toBeLessThan(2_000);
    slow.stop();
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchPolicy } from '../../../agent/receipts/batch-policy.js';
import { createOutbox, type Outbox } from '../../../agent/receipts/outbox.js';
import { type AckEntry, batchHeaderHash, type SignedAck, signAck } from '../../../protocol/ack.js';
import { verifyBatchHeader } from '../../../protocol/batch.js';
import { hasCode } from '../../../protocol/errors.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import { receiptId } from '../../../protocol/receipt.js';
import { decodeSubmission } from '../../../protocol/submission.js';
import { receiptBody } from '../../helpers/receipts.js';

const node = identityFromSeed(new Uint8Array(32).fill(1));
const consumer = identityFromSeed(new Uint8Array(32).fill(2));
const service = identityFromSeed(new Uint8Array(32).fill(3));
const stranger = identityFromSeed(new Uint8Array(32).fill(4));

function body(sequence: number): Uint8Array {
  return receiptBody({ provider: node, consumer }, sequence);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const logger = pino({ level: 'silent' });

let dir: string;
let clock: number;
let open: Outbox[];

function outbox(policy: Partial<BatchPolicy> = {}, maxDiskBytes = 1_000_000): Outbox {
  const o = createOutbox(
    { dir, maxDiskBytes, policy: { maxReceipts: 3, maxAgeMs: 60_000, maxBytes: 1_000_000, ...policy } },
    { logger, now: () => clock, identity: node },
  );
  open.push(o);
  return o;
}

async function started(policy: Partial<BatchPolicy> = {}, maxDiskBytes?: number): Promise<Outbox> {
  const o = outbox(policy, maxDiskBytes);
  await o.start();
  return o;
}

function ackFor(
  submission: Uint8Array,
  opts: { key?: Uint8Array; entries?: AckEntry[]; headerHash?: Uint8Array } = {},
): SignedAck {
  const sub = decodeSubmission(submission);
  const entries = sub.receiptBodies.map((b) => ({ receiptId: receiptId(b), status: 'valid' as const }));
  return signAck(
    {
      batchHeaderHash: opts.headerHash ?? batchHeaderHash(sub.headerBytes),
      providerKey: node.publicKey,
      receipts: opts.entries ?? entries,
      acceptedAtMs: clock,
    },
    opts.key ?? service.secretKey,
  );
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(hasCode(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fieldmesh-outbox-'));
  clock = 1_700_000_000_000;
  open = [];
});

afterEach(async () => {
  for (const o of open) await o.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('receipt outbox', () => {
  it('keeps receipts in append order with their exact bytes across a reopen', async () => {
    const first = await started({ maxReceipts: 10 });
    const bodies = Array.from({ length: 5 }, (_, i) => body(i));
    for (const b of bodies.slice(0, 3)) await first.append(b);
    await first.stop();
    const second = await started({ maxReceipts: 10, maxAgeMs: 0 });
    for (const b of bodies.slice(3)) await second.append(b);
    expect(second.stats().pendingReceipts).toBe(5);
    const batch = await second.nextBatch();
    expect(batch).not.toBeNull();
    expect(decodeSubmission(batch!.submission).receiptBodies.map(hex)).toEqual(bodies.map(hex));
  });

  it('stores a receipt appended twice once', async () => {
    const o = await started({ maxAgeMs: 0 });
    const a = await o.append(body(1));
    const b = await o.append(body(1));
    expect(hex(a.id)).toBe(hex(b.id));
    expect(hex(a.id)).toBe(hex(receiptId(body(1))));
    expect(o.stats().pendingReceipts).toBe(1);
    expect((await o.nextBatch())!.receiptIds.map(hex)).toEqual([hex(a.id)]);
  });

  it('cuts a batch when maxReceipts are pending, oldest first', async () => {
    const o = await started({ maxReceipts: 3 });
    for (let i = 0; i < 2; i++) await o.append(body(i));
    expect(await o.nextBatch()).toBeNull();
    for (let i = 2; i < 5; i++) await o.append(body(i));
    const batch = await o.nextBatch();
    expect(batch!.receiptIds.map(hex)).toEqual([0, 1, 2].map((i) => hex(receiptId(body(i)))));
    const header = verifyBatchHeader(decodeSubmission(batch!.submission));
    expect(header.leafCount).toBe(3);
    expect(hex(header.providerKey)).toBe(hex(node.publicKey));
  });

  it('cuts a partial batch once the oldest receipt is maxAgeMs old', async () => {
    const o = await started({ maxReceipts: 10, maxAgeMs: 5_000 });
    await o.append(body(1));
    clock += 4_999;
    expect(await o.nextBatch()).toBeNull();
    clock += 1;
    expect((await o.nextBatch())!.receiptIds).toHaveLength(1);
  });

  it('returns the in-flight batch again, byte for byte, after a crash and reopen', async () => {
    const first = await started();
    for (let i = 0; i < 4; i++) await first.append(body(i));
    const batch = await first.nextBatch();
    expect(await first.nextBatch()).toEqual(batch);
    await first.stop();
    clock += 10_000; // a new cut would carry another createdAtMs, hence other bytes
    const second = await started();
    const again = await second.nextBatch();
    expect(hex(again!.submission)).toBe(hex(batch!.submission));
    expect(again!.batchSequence).toBe(batch!.batchSequence);
    expect(second.stats().inFlightBatchSequence).toBe(batch!.batchSequence);
  });

  it('removes exactly the acknowledged batch on a valid ack, and numbers the next batch after it', async () => {
    const o = await started();
    for (let i = 0; i < 5; i++) await o.append(body(i));
    const batch = (await o.nextBatch())!;
    clock += 7;
    const { removed, statuses } = await o.acknowledge(ackFor(batch.submission), service.publicKey);
    expect(removed).toBe(3);
    expect(statuses.map((s) => s.status)).toEqual(['valid', 'valid', 'valid']);
    expect(o.stats()).toMatchObject({ pendingReceipts: 2, inFlightBatchSequence: null, lastAckAtMs: clock });
    await o.append(body(5));
    const next = (await o.nextBatch())!;
    expect(next.batchSequence).toBe(batch.batchSequence + 1);
    expect(next.receiptIds.map(hex)).toEqual([3, 4, 5].map((i) => hex(receiptId(body(i)))));
    await o.stop();
    const reopened = await started();
    expect(reopened.stats()).toMatchObject({ pendingReceipts: 3, inFlightBatchSequence: next.batchSequence });
  });

  it('removes nothing on a forged, foreign, tampered or unexpected ack', async () => {
    const o = await started();
    const stray = signAck(
      { batchHeaderHash: new Uint8Array(32), providerKey: node.publicKey, receipts: [], acceptedAtMs: clock },
      service.secretKey,
    );
    await expectCode(o.acknowledge(stray, service.publicKey), 'OUTBOX_NO_BATCH_IN_FLIGHT');
    for (let i = 0; i < 3; i++) await o.append(body(i));
    const batch = (await o.nextBatch())!;
    const before = o.stats();
    await expectCode(
      o.acknowledge(ackFor(batch.submission, { key: stranger.secretKey }), service.publicKey),
      'OUTBOX_ACK_INVALID',
    );
    await expectCode(
      o.acknowledge(ackFor(batch.submission, { headerHash: new Uint8Array(32) }), service.publicKey),
      'OUTBOX_ACK_MISMATCH',
    );
    const partial = ackFor(batch.submission, {
      entries: [{ receiptId: receiptId(body(0)), status: 'valid' }],
    });
    await expectCode(o.acknowledge(partial, service.publicKey), 'OUTBOX_ACK_MISMATCH');
    const good = ackFor(batch.submission);
    const tampered = { ...good, ackBytes: good.ackBytes.slice() };
    tampered.ackBytes[tampered.ackBytes.length - 1]! ^= 1;
    await expectCode(o.acknowledge(tampered, service.publicKey), 'OUTBOX_ACK_INVALID');
    expect(o.stats()).toEqual(before);
    await o.stop();
    const reopened = await started();
    expect(hex((await reopened.nextBatch())!.submission)).toBe(hex(batch.submission));
  });

  it('refuses a receipt past the disk budget with OUTBOX_FULL and keeps the earlier ones', async () => {
    const probe = await started();
    await probe.append(body(0));
    const perReceipt = probe.stats().bytesUsed;
    await probe.stop();
    await rm(dir, { recursive: true, force: true });
    const o = await started({ maxReceipts: 10, maxAgeMs: 0 }, perReceipt * 2 + 1);
    await o.append(body(0));
    await o.append(body(1));
    const refused = await o.append(body(2)).catch((e: unknown) => e);
    expect(hasCode(refused, 'OUTBOX_FULL')).toBe(true);
    expect((refused as Error).message).toMatch(/settlement service.*maxDiskBytes/);
    expect(o.stats().pendingReceipts).toBe(2);
    expect((await o.nextBatch())!.receiptIds.map(hex)).toEqual([0, 1].map((i) => hex(receiptId(body(i)))));
  });

  it('refuses operations before start with OUTBOX_NOT_STARTED', async () => {
    await expectCode(outbox().append(body(0)), 'OUTBOX_NOT_STARTED');
  });

  it('rejects unusable settings, naming each', () => {
    expect(() =>
      createOutbox(
        { dir, maxDiskBytes: 0, policy: { maxReceipts: 0, maxAgeMs: 0, maxBytes: 1_000 } },
        { logger, now: () => clock, identity: node },
      ),
    ).toThrow(/maxReceipts[\s\S]*maxDiskBytes/);
  });
});

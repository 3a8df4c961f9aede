import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createOutbox,
  GROUP_COMMIT_MAX,
  type Outbox,
  type ReceiptFields,
} from '../../../agent/receipts/outbox.js';
import { decodeReceiptRecord, RECEIPT_RANGE } from '../../../agent/receipts/records.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import { decodeReceipt, receiptId } from '../../../protocol/receipt.js';
import { decodeSubmission } from '../../../protocol/submission.js';
import { receiptBody } from '../../helpers/receipts.js';
import { deferred, withTimeout } from '../../helpers/wait-for.js';

const node = identityFromSeed(new Uint8Array(32).fill(1));
const consumer = identityFromSeed(new Uint8Array(32).fill(2));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const child = fileURLToPath(new URL('./fixtures/append-jobs-until-killed.mjs', import.meta.url));

function job(i: number, over: Partial<ReceiptFields> = {}): ReceiptFields {
  return {
    consumerKey: consumer.publicKey,
    pipelineId: 'vibration',
    modelSha256: new Uint8Array(32).fill(5),
    inputDigest: new Uint8Array(32).fill(i % 256),
    outputDigest: new Uint8Array(32).fill(7),
    startTimeMs: 1_700_000_000_000 + i,
    computeTimeUs: 1_500,
    sampleCount: 1 + (i % 4),
    ...over,
  };
}

let dir: string;
let clock: number;
let open: Outbox[];
let logLines: Record<string, unknown>[];

const logger = (): pino.Logger =>
  pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    }),
  );

async function started(maxDiskBytes = 10_000_000, maxAgeMs = 0): Promise<Outbox> {
  const o = createOutbox(
    { dir, maxDiskBytes, policy: { maxReceipts: 10_000, maxAgeMs, maxBytes: 100_000_000 } },
    { logger: logger(), now: () => clock, identity: node },
  );
  open.push(o);
  await o.start();
  return o;
}

/** Every receipt body on disk, in key order, read with a store of our own. */
async function storedBodies(): Promise<Uint8Array[]> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    const bodies: Uint8Array[] = [];
    for await (const value of db.values(RECEIPT_RANGE)) bodies.push(decodeReceiptRecord(value).body);
    return bodies;
  } finally {
    await db.close();
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fieldmesh-group-commit-'));
  clock = 1_700_000_000_000;
  open = [];
  logLines = [];
});

afterEach(async () => {
  for (const o of open) await o.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('outbox group commit (appendJob)', () => {
  it('numbers receipts from its persistent counter and signs them with the node key', async () => {
    const first = await started();
    const a = [0, 1, 2].map((i) => first.appendJob(job(i)));
    expect(a.map((r) => r?.sequence)).toEqual([0, 1, 2]);
    expect(first.stats()).toMatchObject({ bufferedReceipts: 3, appended: 3 });
    await first.stop();
    const second = await started();
    expect(second.appendJob(job(3))?.sequence).toBe(3);
    await second.flush();
    const bodies = await second.nextBatch().then((b) => decodeSubmission(b!.submission).receiptBodies);
    const receipts = bodies.map(decodeReceipt);
    expect(receipts.map((r) => r.sequence)).toEqual([0, 1, 2, 3]);
    expect(receipts.every((r) => hex(r.providerKey) === hex(node.publicKey))).toBe(true);
    expect(hex(receipts[1]!.consumerKey)).toBe(hex(consumer.publicKey));
    expect(receipts[2]!.sampleCount).toBe(3);
    expect(bodies.map((b) => hex(receiptId(b)))[0]).toBe(hex(a[0]!.id));
  });

  it('writes buffered receipts by itself within the group-commit interval', async () => {
    const o = await started();
    for (let i = 0; i < 5; i++) o.appendJob(job(i));
    expect(o.stats().pendingReceipts).toBe(0);
    const written = deferred();
    const poll = setInterval(() => o.stats().pendingReceipts === 5 && written.resolve(), 5);
    try {
      await withTimeout(written.promise, 'the group commit', 2_000);
    } finally {
      clearInterval(poll);
    }
    expect(o.stats().bufferedReceipts).toBe(0);
    await o.stop();
    expect((await storedBodies()).map((b) => decodeReceipt(b).sequence)).toEqual([0, 1, 2, 3, 4]);
  });

  it(`commits at once when ${GROUP_COMMIT_MAX} receipts are buffered`, async () => {
    const o = await started();
    for (let i = 0; i < GROUP_COMMIT_MAX; i++) o.appendJob(job(i));
    await o.flush(); // queued behind the immediate commit, if any; writes the rest otherwise
    expect(o.stats()).toMatchObject({ pendingReceipts: GROUP_COMMIT_MAX, bufferedReceipts: 0 });
  });

  it('flushes before cutting a batch, so a batch only holds durable receipts', async () => {
    const o = await started();
    for (let i = 0; i < 4; i++) o.appendJob(job(i));
    const batch = await o.nextBatch();
    expect(batch!.receiptIds).toHaveLength(4);
    expect(o.stats()).toMatchObject({ pendingReceipts: 4, bufferedReceipts: 0 });
  });

  it('after a SIGKILL keeps every receipt of a cut batch, with no gap, and reuses only unsent numbers', async () => {
    const sent = await new Promise<string[]>((resolve, reject) => {
      const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let ids: string[] | undefined;
      proc.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (ids === undefined && out.includes('\n')) {
          ids = JSON.parse(out.slice(0, out.indexOf('\n'))) as string[];
          // Let it append (and group-commit) a little more, then pull the plug.
          setTimeout(() => proc.kill('SIGKILL'), 30);
        }
      });
      proc.on('exit', (_code, signal) =>
        signal === 'SIGKILL' && ids ? resolve(ids) : reject(new Error(`child exited early: ${err}`)),
      );
    });
    expect(sent).toHaveLength(100);
    const bodies = await storedBodies();
    const stored = new Set(bodies.map((b) => hex(receiptId(b))));
    for (const id of sent) expect(stored.has(id)).toBe(true);
    const sequences = bodies.map((b) => decodeReceipt(b).sequence);
    expect(sequences).toEqual(sequences.map((_, i) => i));
    const o = await started();
    expect(o.appendJob(job(0))?.sequence).toBe(sequences.length);
  });

  it('keeps sequences unique and ordered when append and appendJob interleave', async () => {
    const o = await started();
    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      appends.push(o.append(receiptBody({ provider: node, consumer }, 10_000 + i)));
      o.appendJob(job(i));
    }
    await Promise.all(appends);
    await o.stop();
    const reopened = await started();
    expect(reopened.stats().pendingReceipts).toBe(40);
    expect(reopened.appendJob(job(99))?.sequence).toBe(40);
    await reopened.stop();
    const jobSequences = (await storedBodies())
      .map(decodeReceipt)
      .filter((r) => r.sequence < 10_000)
      .map((r) => r.sequence);
    expect(jobSequences).toEqual([...jobSequences].sort((a, b) => a - b));
    expect(new Set(jobSequences).size).toBe(jobSequences.length);
  });

  it('refuses receipts past the disk budget, counts them and warns at most once a minute', async () => {
    const probe = await started();
    probe.appendJob(job(0));
    await probe.flush();
    const perReceipt = probe.stats().bytesUsed;
    await probe.stop();
    await rm(dir, { recursive: true, force: true });
    const o = await started(perReceipt * 3 + 10);
    const results = Array.from({ length: 6 }, (_, i) => o.appendJob(job(i)));
    expect(results.map((r) => r !== null)).toEqual([true, true, true, false, false, false]);
    expect(o.stats()).toMatchObject({ appended: 3, refused: 3 });
    const warnings = () => logLines.filter((l) => String(l.msg).includes('outbox full'));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 40, refused: 1 });
    expect(String(warnings()[0]!.msg)).toMatch(
      /settlement service is reachable.*settlement\.outbox\.maxBytes/,
    );
    clock += 60_000;
    expect(o.appendJob(job(7))).toBeNull();
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ refused: 4, refusedSinceLastWarning: 3 });
    // A refused receipt takes no sequence: the next accepted one follows the last stored.
    await o.flush();
    expect((await o.nextBatch())!.receiptIds).toHaveLength(3);
  });
});

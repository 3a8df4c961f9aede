import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createOutbox } from '../../../agent/receipts/outbox.js';
import { identityFromSeed } from '../../../protocol/identity.js';
import { decodeReceipt } from '../../../protocol/receipt.js';
import { decodeSubmission } from '../../../protocol/submission.js';

const child = fileURLToPath(new URL('./fixtures/append-until-killed.mjs', import.meta.url));
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fieldmesh-outbox-crash-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the child until it has reported `count` durable appends, then SIGKILLs it. */
function appendThenKill(count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = -1;
    let stderr = '';
    let buffered = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    proc.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) acked = Number(line);
      if (acked + 1 >= count) proc.kill('SIGKILL');
    });
    proc.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`child exited before the kill: ${stderr}`));
    });
  });
}

it('keeps every receipt whose append resolved, exactly once, after a SIGKILL', async () => {
  const target = 20 + Math.floor(Math.random() * 60);
  const lastAcked = await appendThenKill(target);
  expect(lastAcked).toBeGreaterThanOrEqual(target - 1);

  const node = identityFromSeed(new Uint8Array(32).fill(1));
  const outbox = createOutbox(
    { dir, maxDiskBytes: 100_000_000, policy: { maxReceipts: 10_000, maxAgeMs: 0, maxBytes: 100_000_000 } },
    { logger: pino({ level: 'silent' }), now: () => Date.now(), identity: node },
  );
  await outbox.start();
  try {
    const batch = await outbox.nextBatch();
    const sequences = decodeSubmission(batch!.submission).receiptBodies.map((b) => decodeReceipt(b).sequence);
    // In append order, no duplicates, no gaps; an append in progress at the kill may or may not be there.
    expect(sequences).toEqual(sequences.map((_, i) => i));
    expect(sequences.length).toBeGreaterThanOrEqual(lastAcked + 1);
    expect(sequences.length).toBeLessThanOrEqual(lastAcked + 2);
    expect(outbox.stats().pendingReceipts).toBe(sequences.length);
  } finally {
    await outbox.stop();
  }
});

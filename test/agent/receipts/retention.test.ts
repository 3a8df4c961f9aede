import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createTensorRetention,
  type TensorRetention,
  type TensorRetentionInit,
} from '../../../agent/receipts/retention.js';
import { hasCode } from '../../../protocol/errors.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let dir: string;
let clock: number;
let open: TensorRetention[];
let logs: { level: number; msg: string; byAge?: number; byBytes?: number }[];

const logger = () => pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
const warnings = () => logs.filter((l) => l.level === 40 && l.msg.startsWith('tensors evicted'));

const id = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const tensor = (n: number, bytes = 128): Uint8Array => new Uint8Array(bytes).fill(n);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fieldmesh-retention-'));
  clock = 1_700_000_000_000;
  open = [];
  logs = [];
});

afterEach(async () => {
  for (const r of open) await r.stop();
  await rm(dir, { recursive: true, force: true });
});

async function started(over: Partial<TensorRetentionInit> = {}): Promise<TensorRetention> {
  const r = createTensorRetention(
    { dir, maxBytes: 10_000_000, retentionMs: HOUR, ...over },
    { logger: logger(), now: () => clock },
  );
  open.push(r);
  await r.start();
  return r;
}

/** A crash: no stop(), so nothing buffered is written and the open segment is left as it is. */
function crashed(r: TensorRetention): void {
  open.splice(open.indexOf(r), 1);
}

const segmentFiles = async (): Promise<string[]> =>
  (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort();

async function restarted(
  r: TensorRetention,
  over: Partial<TensorRetentionInit> = {},
): Promise<TensorRetention> {
  await r.stop();
  open.splice(open.indexOf(r), 1);
  return started(over);
}

describe('tensor retention', () => {
  it('returns put tensors from the buffer, after they are written, and after a restart', async () => {
    let r = await started();
    const input = tensor(1);
    r.put(id(1), 0, input, tensor(2, 8));
    input.fill(9); // put copied the bytes: the caller may reuse its buffer
    expect(await r.get(id(1), 0)).toEqual({ input: tensor(1), output: tensor(2, 8) });
    expect(r.stats()).toMatchObject({ entries: 0, buffered: 1 });
    await r.flush();
    expect(r.stats()).toMatchObject({ entries: 1, buffered: 0, evicted: 0 });
    expect(await r.get(id(1), 0)).toEqual({ input: tensor(1), output: tensor(2, 8) });
    expect(await r.get(id(2), 0)).toBeUndefined();
    expect(await r.get(id(1), 1)).toBeUndefined(); // the sequence must match too
    r = await restarted(r);
    expect(await r.get(id(1), 0)).toEqual({ input: tensor(1), output: tensor(2, 8) });
  });

  it('writes the buffer on its own timer, with one file per segment', async () => {
    const r = await started();
    r.put(id(1), 0, tensor(1), tensor(1));
    await expect.poll(() => r.stats().entries, { timeout: 5_000 }).toBe(1);
    expect(await segmentFiles()).toEqual([`seg-0-${clock}.open`]);
  });

  it('survives a restart: stop writes and seals, start lists the segments', async () => {
    let r = await started();
    for (let n = 1; n <= 5; n++) r.put(id(n), n, tensor(n), tensor(n, 4));
    await r.flush();
    r.put(id(6), 6, tensor(6), tensor(6, 4)); // still buffered when stop() is called
    const before = r.stats();
    r = await restarted(r);
    expect(await segmentFiles()).toEqual([`seg-1-${clock}-6-6.seg`]);
    expect(r.stats()).toMatchObject({ entries: 6, buffered: 0 });
    expect(r.stats().bytesUsed).toBeGreaterThan(before.bytesUsed);
    for (let n = 1; n <= 6; n++) expect((await r.get(id(n), n))?.input).toEqual(tensor(n));
    // A new process starts a new segment: it never appends to an old one.
    r.put(id(7), 7, tensor(7), tensor(7, 4));
    await r.flush();
    expect(r.stats().entries).toBe(7);
    expect(await segmentFiles()).toHaveLength(2);
    expect((await r.get(id(7), 7))?.input).toEqual(tensor(7));
  });

  it('rotates segments by size and finds a record in any of them by its sequence', async () => {
    let r = await started({ segmentBytes: 1_000 });
    for (let n = 0; n < 20; n++) r.put(id(n), 100 + n, tensor(n, 200), tensor(n, 8));
    await r.flush();
    r = await restarted(r, { segmentBytes: 1_000 });
    const files = await segmentFiles();
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(files.every((f) => f.endsWith('.seg'))).toBe(true);
    for (let n = 0; n < 20; n++) expect((await r.get(id(n), 100 + n))?.output).toEqual(tensor(n, 8));
    expect(await r.get(id(3), 99)).toBeUndefined();
    expect(await r.get(id(3), 120)).toBeUndefined();
  });

  it('after a crash, finds the right record when a sequence was handed out twice', async () => {
    const first = await started();
    for (let n = 1; n <= 3; n++) first.put(id(n), n, tensor(n), tensor(n, 4));
    await first.flush();
    crashed(first); // the outbox lost receipt 3 unflushed: the next process reuses sequence 3
    clock += 1_000;
    const r = await started();
    r.put(id(33), 3, tensor(33), tensor(33, 4));
    r.put(id(4), 4, tensor(4), tensor(4, 4));
    await r.flush();
    expect((await r.get(id(3), 3))?.input).toEqual(tensor(3));
    expect((await r.get(id(33), 3))?.input).toEqual(tensor(33));
    expect((await r.get(id(1), 1))?.input).toEqual(tensor(1));
    expect((await r.get(id(4), 4))?.input).toEqual(tensor(4));
    // The crashed segment was scanned and sealed in the background.
    expect(r.stats()).toMatchObject({ entries: 5 });
    expect((await segmentFiles()).filter((f) => f.endsWith('.seg'))).toEqual([
      `seg-1-${clock - 1_000}-3-3.seg`,
    ]);
  });

  it('ignores a torn last record without losing the rest of its segment', async () => {
    const first = await started();
    for (let n = 1; n <= 3; n++) first.put(id(n), n, tensor(n), tensor(n, 4));
    await first.flush();
    crashed(first);
    const [file] = await segmentFiles();
    // Half of a fourth record: its header promises more bytes than the file holds.
    const torn = Buffer.alloc(60);
    torn.fill(4, 0, 32);
    torn.writeUInt32BE(4, 36);
    torn.writeUInt32BE(128, 40);
    torn.writeUInt32BE(4, 44);
    await appendFile(join(dir, file!), torn);
    clock += 1_000;
    const r = await started();
    await r.flush();
    expect(r.stats()).toMatchObject({ entries: 3 });
    for (let n = 1; n <= 3; n++) expect((await r.get(id(n), n))?.input).toEqual(tensor(n));
    expect(await r.get(id(4), 4)).toBeUndefined();
    expect(logs.some((l) => l.msg.includes('torn record'))).toBe(true);
    r.put(id(5), 5, tensor(5), tensor(5, 4));
    await r.flush();
    expect((await r.get(id(5), 5))?.input).toEqual(tensor(5));
  });

  it('evicts segments older than retentionMs and warns with the count', async () => {
    const r = await started({ retentionMs: HOUR });
    r.put(id(1), 1, tensor(1), tensor(1));
    r.put(id(2), 2, tensor(2), tensor(2));
    await r.flush();
    clock += HOUR + 1;
    r.put(id(3), 3, tensor(3), tensor(3)); // the old segment is past its age: a new one starts
    await r.flush();
    expect(await r.get(id(1), 1)).toBeUndefined();
    expect(await r.get(id(2), 2)).toBeUndefined();
    expect((await r.get(id(3), 3))?.input).toEqual(tensor(3));
    expect(r.stats()).toMatchObject({ entries: 1, evicted: 2 });
    expect(warnings()).toEqual([expect.objectContaining({ byAge: 2, byBytes: 0 })]);
    expect(await segmentFiles()).toHaveLength(1);
  });

  it('evicts the oldest segments when bytesUsed passes maxBytes', async () => {
    // Segments of maxBytes / 8: whole segments go, oldest first.
    const r = await started({ maxBytes: 8_000 });
    for (let n = 1; n <= 40; n++) {
      r.put(id(n), n, tensor(n, 200), tensor(n, 4));
      clock += 1;
    }
    await r.flush();
    const { entries, bytesUsed, evicted } = r.stats();
    expect(bytesUsed).toBeLessThanOrEqual(8_000);
    expect(entries).toBeGreaterThan(0);
    expect(evicted).toBeGreaterThan(0);
    expect(entries + evicted).toBe(40);
    const onDisk = await Promise.all((await segmentFiles()).map((f) => stat(join(dir, f))));
    expect(onDisk.reduce((n, s) => n + s.size, 0)).toBe(bytesUsed);
    expect(await r.get(id(1), 1)).toBeUndefined();
    expect((await r.get(id(40), 40))?.input).toEqual(tensor(40, 200));
    expect(warnings()).toEqual([expect.objectContaining({ byAge: 0, byBytes: evicted })]);
    // The counters stay true across a restart.
    const again = await restarted(r, { maxBytes: 8_000 });
    expect(again.stats()).toMatchObject({ entries, bytesUsed });
  });

  it('warns about evictions at most once a minute, carrying the counts over', async () => {
    const r = await started({ retentionMs: 1_000 });
    for (let n = 1; n <= 3; n++) {
      r.put(id(n), n, tensor(n), tensor(n));
      await r.flush();
      clock += 1_001; // the next put starts a new segment; its flush evicts the one before
    }
    r.put(id(4), 4, tensor(4), tensor(4));
    await r.flush();
    expect(warnings()).toHaveLength(1);
    clock += MINUTE;
    r.put(id(5), 5, tensor(5), tensor(5));
    await r.flush();
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ byAge: 3 });
    expect(r.stats().evicted).toBe(4);
  });

  it('drops puts while stopped, and tensors it cannot keep, without throwing', async () => {
    const r = createTensorRetention(
      { dir, maxBytes: 1_000, retentionMs: 1_000 },
      { logger: logger(), now: () => clock },
    );
    r.put(id(1), 1, tensor(1), tensor(1));
    await r.start();
    open.push(r);
    r.put(new Uint8Array(5), 1, tensor(1), tensor(1));
    r.put(id(1), -1, tensor(1), tensor(1));
    expect(r.stats().dropped).toBe(3);
    expect(await r.get(id(1), 1)).toBeUndefined();
  });

  it('refuses unusable settings, listing each', () => {
    try {
      createTensorRetention({ dir, maxBytes: 0, retentionMs: -1 }, { logger: logger(), now: () => clock });
      expect.fail('expected RETENTION_CONFIG_INVALID');
    } catch (err) {
      expect(hasCode(err, 'RETENTION_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/maxBytes must be a positive integer, got 0; retentionMs/);
    }
  });
});

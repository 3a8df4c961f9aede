import { mkdtemp, rm } from 'node:fs/promises';
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

async function restarted(
  r: TensorRetention,
  over: Partial<TensorRetentionInit> = {},
): Promise<TensorRetention> {
  await r.stop();
  open.splice(open.indexOf(r), 1);
  return started(over);
}

describe('tensor retention', () => {
  it('returns put tensors at once from the buffer, and after they are written', async () => {
    const r = await started();
    const input = tensor(1);
    r.put(id(1), input, tensor(2, 8));
    input.fill(9); // put copied the bytes: the caller may reuse its buffer
    expect(await r.get(id(1))).toEqual({ input: tensor(1), output: tensor(2, 8) });
    expect(r.stats()).toMatchObject({ entries: 0, buffered: 1 });
    await r.flush();
    expect(r.stats()).toMatchObject({ entries: 1, buffered: 0, evicted: 0 });
    expect(await r.get(id(1))).toEqual({ input: tensor(1), output: tensor(2, 8) });
    expect(await r.get(id(2))).toBeUndefined();
  });

  it('keeps the newest tensors when a receipt id is put twice', async () => {
    const r = await started();
    r.put(id(1), tensor(1), tensor(1));
    await r.flush();
    r.put(id(1), tensor(2), tensor(2));
    expect((await r.get(id(1)))?.input).toEqual(tensor(2));
    await r.flush();
    expect((await r.get(id(1)))?.input).toEqual(tensor(2));
  });

  it('writes the buffer on its own timer', async () => {
    const r = await started();
    r.put(id(1), tensor(1), tensor(1));
    await expect.poll(() => r.stats().entries, { timeout: 5_000 }).toBe(1);
  });

  it('survives a restart: stop flushes, start rebuilds the counters from disk', async () => {
    let r = await started();
    for (let n = 1; n <= 5; n++) r.put(id(n), tensor(n), tensor(n, 4));
    await r.flush();
    r.put(id(6), tensor(6), tensor(6, 4)); // still buffered when stop() is called
    const before = r.stats();
    r = await restarted(r);
    expect(r.stats()).toMatchObject({ entries: 6, buffered: 0 });
    expect(r.stats().bytesUsed).toBeGreaterThan(before.bytesUsed);
    for (let n = 1; n <= 6; n++) expect((await r.get(id(n)))?.input).toEqual(tensor(n));
    // New keys continue after the old ones, so a restart never overwrites an entry.
    r.put(id(7), tensor(7), tensor(7, 4));
    await r.flush();
    expect(r.stats().entries).toBe(7);
  });

  it('evicts entries older than retentionMs and warns with the count', async () => {
    const r = await started({ retentionMs: HOUR });
    r.put(id(1), tensor(1), tensor(1));
    r.put(id(2), tensor(2), tensor(2));
    await r.flush();
    clock += HOUR + 1;
    r.put(id(3), tensor(3), tensor(3));
    await r.flush();
    expect(await r.get(id(1))).toBeUndefined();
    expect(await r.get(id(2))).toBeUndefined();
    expect((await r.get(id(3)))?.input).toEqual(tensor(3));
    expect(r.stats()).toMatchObject({ entries: 1, evicted: 2 });
    expect(warnings()).toEqual([expect.objectContaining({ byAge: 2, byBytes: 0 })]);
  });

  it('evicts the oldest entries when bytesUsed passes maxBytes', async () => {
    const r = await started({ maxBytes: 1_000 });
    for (let n = 1; n <= 10; n++) {
      r.put(id(n), tensor(n, 200), tensor(n, 4));
      clock += 1;
    }
    await r.flush();
    const { entries, bytesUsed, evicted } = r.stats();
    expect(bytesUsed).toBeLessThanOrEqual(1_000);
    expect(entries + evicted).toBe(10);
    expect(entries).toBeGreaterThan(0);
    expect(await r.get(id(1))).toBeUndefined();
    expect((await r.get(id(10)))?.input).toEqual(tensor(10, 200));
    expect(warnings()).toEqual([expect.objectContaining({ byAge: 0, byBytes: evicted })]);
    // The counters stay true across a restart.
    const again = await restarted(r, { maxBytes: 1_000 });
    expect(again.stats()).toMatchObject({ entries, bytesUsed });
  });

  it('warns about evictions at most once a minute, carrying the counts over', async () => {
    const r = await started({ retentionMs: 1_000 });
    for (let n = 1; n <= 3; n++) {
      r.put(id(n), tensor(n), tensor(n));
      await r.flush();
      clock += 1_001; // each flush evicts the entry before
    }
    expect(warnings()).toHaveLength(1);
    clock += MINUTE;
    await r.flush();
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ byAge: 2 });
    expect(r.stats().evicted).toBe(3);
  });

  it('drops puts while stopped, and tensors it cannot encode, without throwing', async () => {
    const r = createTensorRetention(
      { dir, maxBytes: 1_000, retentionMs: 1_000 },
      { logger: logger(), now: () => clock },
    );
    r.put(id(1), tensor(1), tensor(1));
    await r.start();
    open.push(r);
    r.put(new Uint8Array(5), tensor(1), tensor(1));
    expect(r.stats().dropped).toBe(2);
    expect(await r.get(id(1))).toBeUndefined();
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

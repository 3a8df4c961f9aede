import { cp, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BridgeRecord,
  crc32,
  encodeRecord,
  SEGMENT_MAGIC,
  scanRecords,
} from '../../broker/bridge/record-codec.js';
import { segmentFileName } from '../../broker/bridge/segment-files.js';
import { type BridgeStore, type BridgeStoreInit, openBridgeStore } from '../../broker/bridge/store.js';
import { createRouter, topicRuleProblems } from '../../broker/bridge/topic-rules.js';
import { quietLogger } from '../helpers/broker.js';

const record = (i: number, extra: Partial<BridgeRecord> = {}): BridgeRecord => ({
  topic: `plant/l${i % 3}/seq`,
  payload: Buffer.from(String(i)),
  qos: 1,
  retain: false,
  ...extra,
});

describe('bridge record codec', () => {
  it('uses the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('round-trips records with their QoS, retained flag and UTF-8 topics', () => {
    const records = [
      record(1),
      record(2, { qos: 0, retain: true, topic: 'usine/é/°C', payload: Buffer.alloc(0) }),
    ];
    const bytes = Buffer.concat([SEGMENT_MAGIC, ...records.map(encodeRecord)]);
    expect(scanRecords(bytes, { withMagic: true, maxBodyBytes: 1024 })).toEqual({
      records,
      validEnd: bytes.length,
      problem: null,
    });
  });

  it('stops at a torn or corrupt record and says where', () => {
    const whole = Buffer.concat([SEGMENT_MAGIC, encodeRecord(record(1)), encodeRecord(record(2))]);
    const firstEnd = SEGMENT_MAGIC.length + encodeRecord(record(1)).length;
    const torn = scanRecords(whole.subarray(0, whole.length - 3), { withMagic: true, maxBodyBytes: 1024 });
    expect([torn.records.length, torn.validEnd, torn.problem]).toEqual([
      1,
      firstEnd,
      'a record is cut short',
    ]);
    const flipped = Buffer.from(whole);
    flipped[flipped.length - 1]! ^= 0xff;
    expect(scanRecords(flipped, { withMagic: true, maxBodyBytes: 1024 }).problem).toBe(
      'a record fails its checksum',
    );
    expect(scanRecords(Buffer.from('not ours'), { withMagic: true, maxBodyBytes: 1024 }).validEnd).toBe(0);
  });
});

describe('bridge topic rules', () => {
  it('maps local topics to upstream names, and only those its filters select', () => {
    const route = createRouter([
      { filter: 'plant/+/temp', qos: 1, stripPrefix: 'plant/', remotePrefix: 'site-a/' },
      { filter: 'alarms/#', qos: 0 },
    ]);
    expect(route('plant/l1/temp')).toEqual({ topic: 'site-a/l1/temp', qos: 1 });
    expect(route('alarms/fire/l2')).toEqual({ topic: 'alarms/fire/l2', qos: 0 });
    expect(route('plant/l1/humidity')).toBeNull();
  });

  it('names every problem with the rule it is in', () => {
    expect(topicRuleProblems([])).toEqual([expect.stringContaining('topics is empty')]);
    const problems = topicRuleProblems([
      { filter: 'plant/#', qos: 1 },
      { filter: 'plant/+/temp', qos: 1, stripPrefix: 'plant/l1/' },
      { filter: 'a/b#', qos: 1, remotePrefix: 'x/+/' },
    ]);
    expect(problems).toEqual([
      expect.stringMatching(/^topics\[1\]\.stripPrefix "plant\/l1\/" is not a wildcard-free start/),
      expect.stringMatching(/^topics\[1\]\.filter "plant\/\+\/temp" overlaps topics\[0\]\.filter/),
      expect.stringMatching(/^topics\[2\]\.filter "a\/b#" has "#"/),
      expect.stringMatching(/^topics\[2\]\.remotePrefix "x\/\+\/" contains a wildcard/),
    ]);
  });
});

describe('bridge store', () => {
  const dirs: string[] = [];
  const stores: BridgeStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'fm-bridge-store-'));
    dirs.push(dir);
    return dir;
  }
  async function open(dir: string, init: Partial<BridgeStoreInit> = {}, logger = quietLogger) {
    const store = await openBridgeStore(
      { dir, budgetBytes: 1 << 20, segmentBytes: 4096, overflow: 'drop-oldest', ...init },
      logger,
    );
    stores.push(store);
    return store;
  }
  async function payloads(store: BridgeStore): Promise<string[]> {
    const out: string[] = [];
    for (let from = store.firstUnacked(); ; ) {
      const got = await store.read(from, 64);
      if (got.length === 0) return out;
      out.push(...got.map((r) => r.payload.toString()));
      from = got.at(-1)!.seq + 1;
    }
  }
  const range = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
  function capture() {
    const lines: { msg: string; file?: string; keptRecords?: number }[] = [];
    return {
      lines,
      logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
    };
  }

  it('truncates a torn tail at recovery with a warning, keeping the records before it', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    await Promise.all(range(1, 10).map((_, i) => first.append(record(i + 1))));
    await first.close();
    const file = path.join(dir, segmentFileName(1));
    await truncate(file, (await stat(file)).size - 2); // the last write was cut by a power loss
    const { lines, logger } = capture();
    const reopened = await open(dir, {}, logger);
    expect(lines).toEqual([expect.objectContaining({ file, keptRecords: 9 })]);
    expect(await payloads(reopened)).toEqual(range(1, 9));
    await reopened.append(record(11));
    expect(await payloads(reopened)).toEqual([...range(1, 9), '11']);
  });

  it('drops a corrupt record and all after it in its segment, not those before', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    await Promise.all(
      range(1, 10).map((_, i) => first.append(record(i + 1, { payload: Buffer.from(`p${i + 1}`) }))),
    );
    await first.close();
    const file = path.join(dir, segmentFileName(1));
    const bytes = await readFile(file);
    bytes[bytes.indexOf('p8') + 1]! ^= 0x01; // bit rot in record 8
    await writeFile(file, bytes);
    const { lines, logger } = capture();
    const reopened = await open(dir, {}, logger);
    expect(lines).toEqual([expect.objectContaining({ keptRecords: 7 })]);
    expect(await payloads(reopened)).toEqual(range(1, 7).map((p) => `p${p}`));
  });

  it('loses nothing in a crash: what a power cut leaves on disk is every stored record', async () => {
    const dir = await tempDir();
    const live = await open(dir, { cursorWriteMs: 60_000 });
    await Promise.all(range(1, 50).map((_, i) => live.append(record(i + 1))));
    live.acknowledge(20);
    const snapshot = await tempDir();
    await cp(dir, snapshot, { recursive: true }); // the store is never closed: a crash
    const recovered = await open(snapshot);
    // The cursor had not reached the disk: 1…20 go upstream again (at least once), nothing is missing.
    expect(await payloads(recovered)).toEqual(range(1, 50));
    await live.close();
    expect((await open(dir)).firstUnacked()).toBe(21);
  });

  it('deletes a segment once every record in it is acknowledged', async () => {
    const dir = await tempDir();
    const store = await open(dir, { segmentBytes: 512 });
    for (let i = 1; i <= 100; i++) await store.append(record(i));
    expect((await readdir(dir)).length).toBeGreaterThan(3);
    store.acknowledge(100);
    await store.close();
    expect((await readdir(dir)).filter((n) => n.endsWith('.seg'))).toHaveLength(1); // the one being written
    expect(await payloads(await open(dir))).toEqual([]);
  });

  it('keeps to its budget: drop-oldest keeps the newest, drop-newest the oldest', async () => {
    for (const overflow of ['drop-oldest', 'drop-newest'] as const) {
      const store = await open(await tempDir(), { budgetBytes: 2048, segmentBytes: 512, overflow });
      const outcomes = [];
      for (let i = 1; i <= 200; i++) outcomes.push(await store.append(record(i)));
      const kept = await payloads(store);
      const stats = store.stats();
      expect(stats.bytes).toBeLessThanOrEqual(2048);
      expect(kept.length).toBe(stats.backlog);
      if (overflow === 'drop-oldest') {
        expect(kept).toEqual(range(201 - kept.length, 200));
        expect(stats.droppedOldest).toBe(200 - kept.length);
      } else {
        expect(kept).toEqual(range(1, kept.length));
        expect(stats.droppedNewest).toBe(200 - kept.length);
        expect(outcomes.filter((o) => o === 'dropped-newest')).toHaveLength(200 - kept.length);
      }
    }
  });

  it('refuses a record larger than a segment', async () => {
    const store = await open(await tempDir(), { segmentBytes: 512 });
    expect(await store.append(record(1, { payload: Buffer.alloc(600) }))).toBe('too-large');
    expect(store.stats().tooLarge).toBe(1);
  });
});

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VoucherBook } from '../../../agent/receipts/vouchers-book.js';
import { decodeStoredVoucher, voucherFileName } from '../../../agent/receipts/vouchers-files.js';
import { signVoucher, type Voucher } from '../../../protocol/voucher.js';
import { quietLogger } from '../../helpers/broker.js';
import { testIdentity } from '../../helpers/receipts.js';

const provider = testIdentity(1);
const consumer = testIdentity(2);
const stranger = testIdentity(3);
const SESSION = new Uint8Array(16).fill(0x11);
const OTHER_SESSION = new Uint8Array(16).fill(0x22);

function voucher(over: Partial<Voucher> & Pick<Voucher, 'sequence' | 'jobs'>) {
  return signVoucher(
    {
      consumerKey: consumer.publicKey,
      providerKey: provider.publicKey,
      sessionId: SESSION,
      computeUs: over.jobs * 100,
      highestReceiptSequence: over.jobs,
      issuedAtMs: 1_700_000_000_000 + over.sequence,
      ...over,
    },
    consumer.secretKey,
  );
}

describe('VoucherBook', () => {
  let dir: string;
  let book: VoucherBook;
  const open = async (maxSessions?: number) => {
    book = new VoucherBook(
      { dir, providerKey: provider.publicKey, ...(maxSessions ? { maxSessions } : {}) },
      { logger: quietLogger },
    );
    await book.start();
    return book;
  };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fm-vouchers-'));
  });
  afterEach(async () => {
    await book?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the latest voucher per session and answers stale for older ones', async () => {
    await open();
    expect(book.accept(voucher({ sequence: 1, jobs: 1 }))).toEqual({ outcome: 'stored' });
    expect(book.accept(voucher({ sequence: 3, jobs: 5 }))).toEqual({ outcome: 'stored' });
    expect(book.accept(voucher({ sequence: 2, jobs: 3 }))).toEqual({ outcome: 'stale' });
    expect(book.accept(voucher({ sequence: 1, jobs: 1, sessionId: OTHER_SESSION }))).toEqual({
      outcome: 'stored',
    });
    const unsent = book.unsent(10);
    expect(unsent).toHaveLength(2);
    expect(book.stats()).toMatchObject({ sessions: 2, unsent: 2, stored: 3, stale: 1, refused: 0 });
  });

  it('refuses a forged voucher, one for another provider, and one whose totals went down, with reasons', async () => {
    await open();
    book.accept(voucher({ sequence: 2, jobs: 4 }));
    const forged = { ...voucher({ sequence: 3, jobs: 9 }), signature: new Uint8Array(64).fill(1) };
    const elsewhere = voucher({ sequence: 3, jobs: 9, providerKey: stranger.publicKey });
    const down = voucher({ sequence: 3, jobs: 2 });
    const outcomes = [
      forged,
      elsewhere,
      down,
      { voucherBytes: new Uint8Array([0x80]), signature: forged.signature },
    ].map((v) => book.accept(v));
    expect(outcomes.map((o) => o.outcome)).toEqual(['refused', 'refused', 'refused', 'refused']);
    const reasons = outcomes.map((o) => (o.outcome === 'refused' ? o.reason : ''));
    expect(reasons[0]).toMatch(/signature/);
    expect(reasons[1]).toMatch(/another provider/);
    expect(reasons[2]).toMatch(/equivocation: jobs went down/);
    expect(reasons[3]).toMatch(/voucher rejected/);
    // The held voucher is untouched.
    expect(book.unsent(10)).toEqual([voucher({ sequence: 2, jobs: 4 })]);
  });

  it('refuses vouchers before start and after stop', async () => {
    const idle = new VoucherBook({ dir, providerKey: provider.publicKey }, { logger: quietLogger });
    expect(idle.accept(voucher({ sequence: 1, jobs: 1 })).outcome).toBe('refused');
    await open();
    await book.stop();
    expect(book.accept(voucher({ sequence: 1, jobs: 1 })).outcome).toBe('refused');
  });

  it('persists the latest voucher and its acknowledgement across a restart', async () => {
    await open();
    book.accept(voucher({ sequence: 1, jobs: 1 }));
    book.accept(voucher({ sequence: 2, jobs: 2 }));
    book.accept(voucher({ sequence: 1, jobs: 1, sessionId: OTHER_SESSION }));
    book.acknowledge(voucher({ sequence: 1, jobs: 1, sessionId: OTHER_SESSION }));
    await book.flush();
    const file = await readFile(join(dir, voucherFileName(consumer.publicKey, SESSION)));
    expect(decodeStoredVoucher(new Uint8Array(file))).toEqual({
      signed: voucher({ sequence: 2, jobs: 2 }),
      acknowledged: false,
    });
    await book.stop();
    await open();
    expect(book.stats()).toMatchObject({ sessions: 2, unsent: 1 });
    expect(book.unsent(10)).toEqual([voucher({ sequence: 2, jobs: 2 })]);
    // Still compared against what was held before the restart.
    expect(book.accept(voucher({ sequence: 2, jobs: 2 })).outcome).toBe('stale');
    expect(book.accept(voucher({ sequence: 3, jobs: 1 })).outcome).toBe('refused');
  });

  it('ignores a torn temporary file and a corrupt file left by a crash, keeping the rest', async () => {
    await open();
    book.accept(voucher({ sequence: 4, jobs: 4 }));
    await book.stop();
    const name = voucherFileName(consumer.publicKey, SESSION);
    await writeFile(join(dir, `${name}.tmp`), new Uint8Array([0x83, 0x58]));
    await writeFile(join(dir, voucherFileName(consumer.publicKey, OTHER_SESSION)), 'not cbor');
    await open();
    expect(book.stats()).toMatchObject({ sessions: 1, unsent: 1 });
    expect(await readdir(dir)).not.toContain(`${name}.tmp`);
  });

  it('makes room for a new session by forgetting the oldest acknowledged one, never an unsent one', async () => {
    await open(2);
    const sessions = [1, 2, 3].map((n) => new Uint8Array(16).fill(n));
    book.accept(voucher({ sequence: 1, jobs: 1, sessionId: sessions[0] as Uint8Array }));
    book.accept(voucher({ sequence: 1, jobs: 1, sessionId: sessions[1] as Uint8Array }));
    expect(book.accept(voucher({ sequence: 1, jobs: 1, sessionId: sessions[2] as Uint8Array })).outcome).toBe(
      'refused',
    );
    book.acknowledge(voucher({ sequence: 1, jobs: 1, sessionId: sessions[0] as Uint8Array }));
    expect(book.accept(voucher({ sequence: 1, jobs: 1, sessionId: sessions[2] as Uint8Array })).outcome).toBe(
      'stored',
    );
    await book.flush();
    expect((await readdir(dir)).sort()).toEqual(
      [1, 2].map((i) => voucherFileName(consumer.publicKey, sessions[i] as Uint8Array)).sort(),
    );
  });
});

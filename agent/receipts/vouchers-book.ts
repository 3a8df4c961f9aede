import type { Logger } from 'pino';
import {
  compareVouchers,
  type SignedVoucher,
  type Voucher,
  VoucherError,
  verifyVoucher,
} from '../../protocol/voucher.js';
import type { VoucherOutcome, VoucherSink } from '../offload/voucher-sink.js';
import {
  encodeStoredVoucher,
  loadVoucherFiles,
  removeVoucherFile,
  voucherFileName,
  writeFileAtomic,
} from './vouchers-files.js';

export interface VoucherBookInit {
  /** Directory of the voucher files (`<dataDir>/vouchers`). */
  readonly dir: string;
  /** This node's public key: only vouchers naming it as provider are kept. */
  readonly providerKey: Uint8Array;
  /** Sessions held at most; the oldest acknowledged one makes room. Default 10,000. */
  readonly maxSessions?: number;
}

export interface VoucherBookComponents {
  readonly logger: Logger;
}

export interface VoucherBookStats {
  /** Sessions with a voucher held. */
  readonly sessions: number;
  /** Held vouchers the settlement service has not answered yet. */
  readonly unsent: number;
  /** Since start: vouchers kept (new session or superseding), stale ones, refused ones. */
  readonly stored: number;
  readonly stale: number;
  readonly refused: number;
  /** Since start: vouchers the settlement service answered. */
  readonly acknowledged: number;
  /** Since start: voucher files that could not be written (retried). */
  readonly writeErrors: number;
}

interface Entry {
  readonly voucher: Voucher;
  readonly signed: SignedVoucher;
  acknowledged: boolean;
}

const DEFAULT_MAX_SESSIONS = 10_000;

/**
 * The provider's vouchers (DESIGN.md "Wire protocol"): verifies each one, keeps the latest per
 * session by compareVouchers, persists it (vouchers-files.ts) and hands the unanswered ones to
 * the settlement send loop. accept() is synchronous, as VoucherSink requires, so the file is
 * written just after it returns; a power cut in that moment loses only the newest voucher,
 * whose successor restates everything, and the previous one stays intact on disk.
 */
export class VoucherBook implements VoucherSink {
  private readonly log: Logger;
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private writing: Promise<void> | undefined;
  private writeFailed = false;
  private started = false;
  private counts = { stored: 0, stale: 0, refused: 0, acknowledged: 0, writeErrors: 0 };

  constructor(
    private readonly init: VoucherBookInit,
    components: VoucherBookComponents,
  ) {
    this.log = components.logger.child({ component: 'vouchers' });
  }

  /** Loads the files; one that does not decode or verify is logged and left alone. */
  async start(): Promise<void> {
    for (const file of await loadVoucherFiles(this.init.dir)) {
      const problem = file.problem ?? this.load(file.name, file.stored?.signed, file.stored?.acknowledged);
      if (problem !== undefined) {
        this.log.warn(
          { file: file.name, dir: this.init.dir, problem },
          'voucher file ignored; remove it if it stays',
        );
      }
    }
    this.started = true;
  }

  /** Refuses further vouchers and waits until every held one is on disk. */
  async stop(): Promise<void> {
    this.started = false;
    await this.flush();
  }

  accept(signed: SignedVoucher): VoucherOutcome {
    const outcome = this.judge(signed);
    this.counts[
      outcome.outcome === 'stored' ? 'stored' : outcome.outcome === 'stale' ? 'stale' : 'refused'
    ]++;
    if (outcome.outcome === 'refused') this.log.warn({ reason: outcome.reason }, 'voucher refused');
    return outcome;
  }

  /** Held vouchers not yet answered by the settlement service, at most `max`. */
  unsent(max: number): SignedVoucher[] {
    const out: SignedVoucher[] = [];
    for (const e of this.entries.values()) {
      if (out.length >= max) break;
      if (!e.acknowledged) out.push(e.signed);
    }
    return out;
  }

  /** The service answered `signed`: it is not sent again, unless a newer voucher replaces it. */
  acknowledge(signed: SignedVoucher): void {
    for (const [name, e] of this.entries) {
      if (e.acknowledged || Buffer.compare(e.signed.voucherBytes, signed.voucherBytes) !== 0) continue;
      e.acknowledged = true;
      this.counts.acknowledged++;
      this.schedule(name);
    }
  }

  stats(): VoucherBookStats {
    let unsent = 0;
    for (const e of this.entries.values()) if (!e.acknowledged) unsent++;
    return { sessions: this.entries.size, unsent, ...this.counts };
  }

  /** Resolves once every voucher accepted so far is on disk (or its write failed). */
  async flush(): Promise<void> {
    this.writeFailed = false;
    while (this.dirty.size > 0 || this.writing !== undefined) {
      this.kick();
      await this.writing;
      if (this.writeFailed) return;
    }
  }

  private judge(signed: SignedVoucher): VoucherOutcome {
    if (!this.started) return { outcome: 'refused', reason: 'the voucher book is not running' };
    let voucher: Voucher;
    try {
      voucher = verifyVoucher(signed);
    } catch (err) {
      if (!(err instanceof VoucherError)) throw err;
      return { outcome: 'refused', reason: err.message };
    }
    if (Buffer.compare(voucher.providerKey, this.init.providerKey) !== 0) {
      return { outcome: 'refused', reason: `voucher ${voucher.sequence} names another provider` };
    }
    const name = voucherFileName(voucher.consumerKey, voucher.sessionId);
    const held = this.entries.get(name);
    if (held !== undefined) {
      const verdict = compareVouchers(voucher, held.voucher);
      if (verdict.verdict === 'stale') return { outcome: 'stale' };
      if (verdict.verdict !== 'supersedes') {
        return { outcome: 'refused', reason: `consumer equivocation: ${verdict.reason}` };
      }
    } else if (!this.makeRoom()) {
      return { outcome: 'refused', reason: `${this.entries.size} sessions held and none answered yet` };
    }
    this.entries.set(name, { voucher, signed: copy(signed), acknowledged: false });
    this.schedule(name);
    return { outcome: 'stored' };
  }

  /** Frees a slot for a new session by forgetting the oldest answered one; false when none can go. */
  private makeRoom(): boolean {
    if (this.entries.size < (this.init.maxSessions ?? DEFAULT_MAX_SESSIONS)) return true;
    let oldest: [string, Entry] | undefined;
    for (const item of this.entries) {
      if (
        item[1].acknowledged &&
        (oldest === undefined || item[1].voucher.issuedAtMs < oldest[1].voucher.issuedAtMs)
      ) {
        oldest = item;
      }
    }
    if (oldest === undefined) return false;
    this.entries.delete(oldest[0]);
    this.schedule(oldest[0]);
    return true;
  }

  private load(name: string, signed: SignedVoucher | undefined, acknowledged = false): string | undefined {
    if (signed === undefined) return 'empty';
    let voucher: Voucher;
    try {
      voucher = verifyVoucher(signed);
    } catch (err) {
      return (err as Error).message;
    }
    if (Buffer.compare(voucher.providerKey, this.init.providerKey) !== 0) return 'names another provider';
    if (name !== voucherFileName(voucher.consumerKey, voucher.sessionId))
      return 'file name does not match its voucher';
    this.entries.set(name, { voucher, signed, acknowledged });
    return undefined;
  }

  private schedule(name: string): void {
    this.dirty.add(name);
    this.writeFailed = false;
    this.kick();
  }

  private kick(): void {
    if (this.writing !== undefined || this.dirty.size === 0) return;
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
      if (!this.writeFailed) this.kick();
    });
  }

  /** Writes (or removes) the dirty files one by one; stops at the first failure, keeping it dirty. */
  private async drain(): Promise<void> {
    for (const name of this.dirty) {
      this.dirty.delete(name);
      const entry = this.entries.get(name);
      try {
        if (entry === undefined) await removeVoucherFile(this.init.dir, name);
        else await writeFileAtomic(this.init.dir, name, encodeStoredVoucher(entry));
      } catch (err) {
        this.dirty.add(name);
        this.writeFailed = true;
        this.counts.writeErrors++;
        this.log.error(
          { err, file: name, dir: this.init.dir },
          'voucher not written; retried with the next voucher',
        );
        return;
      }
    }
  }
}

// The sink may be handed views of a reused MQTT buffer; what is kept must be its own bytes.
function copy(s: SignedVoucher): SignedVoucher {
  return { voucherBytes: new Uint8Array(s.voucherBytes), signature: new Uint8Array(s.signature) };
}

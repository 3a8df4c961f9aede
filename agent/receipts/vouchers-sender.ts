import type { Logger } from 'pino';
import { encodeCbor } from '../../protocol/cbor.js';
import { FieldmeshError } from '../../protocol/errors.js';
import { SettlementSenderStoppedError, SettlementUnavailableError } from './sender-errors.js';
import type { VoucherBook } from './vouchers-book.js';

export interface VoucherSenderInit {
  /** Where vouchers are POSTed, e.g. http://127.0.0.1:8710/v1/vouchers. */
  readonly url: string;
  readonly requestTimeoutMs: number;
  /** Vouchers per request; default 100. */
  readonly maxPerRequest?: number;
}

export interface VoucherSenderComponents {
  readonly book: Pick<VoucherBook, 'unsent' | 'acknowledge'>;
  readonly logger: Logger;
}

/** The service refused the request (a 4xx other than 429): the vouchers stay unsent. */
export class VoucherSubmissionRefusedError extends FieldmeshError {
  constructor(url: string, status: number, body: string) {
    super(
      'SETTLEMENT_VOUCHERS_REFUSED',
      `settlement service at ${url} refused the vouchers with HTTP ${status}: ${body || '(empty body)'}; ` +
        'they stay on disk and are sent again later. Check that the service is recent enough to take vouchers',
    );
  }
}

/** Statuses after which sending the same voucher again cannot change the answer. */
const FINAL = new Set(['stored', 'stale', 'invalid', 'malformed', 'bad_signature']);
const MAX_QUOTED_BODY = 1_000;

/**
 * Sends the book's unanswered vouchers to the settlement service (docs/protocol.md §14) and marks
 * the ones it answered for good. `unknown_node` is not final: once the node is registered, the
 * next round is taken. Throws SettlementUnavailableError (transient: the send loop backs off),
 * VoucherSubmissionRefusedError or SettlementSenderStoppedError.
 */
export class VoucherSender {
  private readonly log: Logger;
  private readonly stopController = new AbortController();

  constructor(
    private readonly init: VoucherSenderInit,
    private readonly components: VoucherSenderComponents,
  ) {
    this.log = components.logger.child({ component: 'voucher-sender' });
  }

  stop(): void {
    this.stopController.abort();
  }

  /** One request with up to maxPerRequest vouchers; resolves how many were answered for good. */
  async sendOnce(): Promise<{ readonly answered: number }> {
    const { url } = this.init;
    if (this.stopController.signal.aborted) throw new SettlementSenderStoppedError(url);
    const vouchers = this.components.book.unsent(this.init.maxPerRequest ?? 100);
    if (vouchers.length === 0) return { answered: 0 };
    const body = encodeCbor(vouchers.map((v) => [v.voucherBytes, v.signature]));
    const { status, text } = await this.post(body);
    if (status === 429 || status >= 500) throw new SettlementUnavailableError(url, status, `HTTP ${status}`);
    if (status !== 200) throw new VoucherSubmissionRefusedError(url, status, text.slice(0, MAX_QUOTED_BODY));
    const answers = parseAnswers(text, vouchers.length);
    if (answers === undefined) {
      throw new SettlementUnavailableError(
        url,
        status,
        'the answer is not {"vouchers": [...]} with one entry per voucher',
      );
    }
    let answered = 0;
    answers.forEach((a, i) => {
      const v = vouchers[i];
      if (v === undefined || !FINAL.has(a.status)) return;
      if (a.status === 'invalid' || a.status === 'bad_signature' || a.status === 'malformed') {
        this.log.warn({ status: a.status, detail: a.detail }, 'settlement service did not take a voucher');
      }
      this.components.book.acknowledge(v);
      answered++;
    });
    return { answered };
  }

  private async post(body: Uint8Array): Promise<{ status: number; text: string }> {
    const { url, requestTimeoutMs } = this.init;
    const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(requestTimeoutMs)]);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor', accept: 'application/json' },
        body,
        signal,
      });
      return { status: res.status, text: await res.text() };
    } catch (err) {
      if (this.stopController.signal.aborted) throw new SettlementSenderStoppedError(url);
      throw new SettlementUnavailableError(url, undefined, `network error: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

function parseAnswers(text: string, count: number): { status: string; detail?: string }[] | undefined {
  try {
    const parsed = JSON.parse(text) as { vouchers?: unknown };
    const list = parsed.vouchers;
    if (!Array.isArray(list) || list.length !== count) return undefined;
    if (!list.every((a) => typeof a === 'object' && a !== null && typeof a.status === 'string'))
      return undefined;
    return list as { status: string; detail?: string }[];
  } catch {
    return undefined;
  }
}

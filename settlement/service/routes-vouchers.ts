import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CborValue, decodeCbor } from '../../protocol/cbor.js';
import type { SignedVoucher } from '../../protocol/voucher.js';
import { storeVoucher, type VoucherResult } from '../store/ledger-vouchers.js';
import type { ServiceContext } from './context.js';
import { BodyTooLargeError, hex, readBody, sendError, sendJson } from './http-util.js';
import { admitAddress } from './routes.js';

/** Vouchers per request; an agent sends the latest per session, a few at a time. */
export const MAX_VOUCHERS_PER_SUBMISSION = 1_000;
// A voucher body is under 150 bytes and its signature 64: 1,000 pairs fit well within this.
const MAX_VOUCHER_SUBMISSION_BYTES = 512 * 1024;
const MAX_VOUCHER_BYTES = 512;
const SIGNATURE_LENGTH = 64;

export class VoucherSubmissionError extends Error {}

/**
 * The body of POST /v1/vouchers (docs/protocol.md §14): canonical CBOR
 * `[* [voucherBytes bstr, signature bstr .size 64]]`, 1 to 1,000 pairs, each exactly as the
 * consumer signed it. Throws VoucherSubmissionError naming what is wrong.
 */
export function decodeVoucherSubmission(bytes: Uint8Array): SignedVoucher[] {
  let decoded: CborValue;
  try {
    decoded = decodeCbor(bytes, { maxDepth: 2 });
  } catch (err) {
    throw new VoucherSubmissionError(`body is not canonical CBOR: ${(err as Error).message}`);
  }
  if (!Array.isArray(decoded) || decoded.length === 0 || decoded.length > MAX_VOUCHERS_PER_SUBMISSION) {
    throw new VoucherSubmissionError(
      `body must be an array of 1 to ${MAX_VOUCHERS_PER_SUBMISSION} [voucherBytes, signature] pairs`,
    );
  }
  return (decoded as readonly CborValue[]).map((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new VoucherSubmissionError(`entry ${i} must be a pair [voucherBytes, signature]`);
    }
    const [voucherBytes, signature] = pair as readonly CborValue[];
    if (!(voucherBytes instanceof Uint8Array) || voucherBytes.length > MAX_VOUCHER_BYTES) {
      throw new VoucherSubmissionError(
        `entry ${i}: voucherBytes must be a byte string of at most ${MAX_VOUCHER_BYTES} bytes`,
      );
    }
    if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) {
      throw new VoucherSubmissionError(`entry ${i}: signature must be ${SIGNATURE_LENGTH} bytes`);
    }
    return { voucherBytes, signature };
  });
}

/** The JSON answer entry for one voucher. */
function answerOf(r: VoucherResult): { status: string; detail?: string } {
  return r.detail === undefined ? { status: r.status } : { status: r.status, detail: r.detail };
}

/**
 * POST /v1/vouchers: whoever holds a voucher may submit it (in practice the provider's agent);
 * the consumer's signature, not the submitter, decides what it is worth. Each voucher is judged
 * on its own and answered in order: `{"vouchers": [{"status", "detail"?}, …]}`.
 */
export async function postVouchers(
  ctx: ServiceContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (!admitAddress(ctx, req, res)) return;
  let signed: SignedVoucher[];
  try {
    signed = decodeVoucherSubmission(await readBody(req, MAX_VOUCHER_SUBMISSION_BYTES));
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      sendError(
        res,
        413,
        'too_large',
        `a voucher submission may be at most ${MAX_VOUCHER_SUBMISSION_BYTES} bytes`,
      );
      return;
    }
    if (err instanceof VoucherSubmissionError) {
      sendError(res, 400, 'malformed', `${err.message}; see docs/protocol.md section 14`);
      return;
    }
    throw err;
  }
  const answers: { status: string; detail?: string }[] = [];
  for (const s of signed) {
    const result = await storeVoucher(ctx.db, s, {
      nowMs: ctx.ingestComponents.now(),
      requireRegistration: ctx.init.requireRegistration,
    });
    ctx.count(`vouchers_${result.status}`);
    if (result.status === 'invalid' || result.status === 'bad_signature') {
      ctx.log.warn(
        { status: result.status, detail: result.detail, provider: result.provider && hex(result.provider) },
        'voucher refused',
      );
    }
    answers.push(answerOf(result));
  }
  sendJson(res, 200, { vouchers: answers });
}

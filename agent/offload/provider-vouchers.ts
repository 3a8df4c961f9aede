import { decodeVoucherMessage } from '../../protocol/offload.js';
import { VoucherError, verifyVoucher } from '../../protocol/voucher.js';
import type { ServedSessions } from './provider-sessions.js';
import type { VoucherOutcome, VoucherSink } from './voucher-sink.js';

/** Why a provider refused a voucher before (or instead of) its sink. */
export type VoucherRefusal =
  | 'malformed'
  | 'bad_signature'
  | 'wrong_provider'
  | 'unknown_session'
  | 'wrong_consumer'
  | 'sink_failed';

export type VoucherVerdict =
  | VoucherOutcome
  | { readonly outcome: 'accepted' }
  | { readonly outcome: 'refused'; readonly reason: string };

/**
 * Checks one voucher message received on this provider's vouchers topic: well-formed, signed
 * by the consumer key in its body, naming this provider, for a session this provider served to
 * that consumer. Then the sink (when there is one) decides stored / stale / refused. Never throws.
 */
export function judgeVoucher(
  payload: Uint8Array,
  self: { readonly publicKey: Uint8Array },
  sessions: ServedSessions,
  sink: VoucherSink | undefined,
): VoucherVerdict {
  let signed: ReturnType<typeof decodeVoucherMessage>;
  let voucher: ReturnType<typeof verifyVoucher>;
  try {
    signed = decodeVoucherMessage(payload);
    voucher = verifyVoucher(signed);
  } catch (err) {
    const bad = err instanceof VoucherError && err.code === 'VOUCHER_SIGNATURE_INVALID';
    return { outcome: 'refused', reason: bad ? 'bad_signature' : 'malformed' };
  }
  if (Buffer.compare(voucher.providerKey, self.publicKey) !== 0) {
    return { outcome: 'refused', reason: 'wrong_provider' };
  }
  const session = sessions.get(voucher.sessionId);
  if (session === undefined) return { outcome: 'refused', reason: 'unknown_session' };
  if (Buffer.compare(session.consumerKey, voucher.consumerKey) !== 0) {
    return { outcome: 'refused', reason: 'wrong_consumer' };
  }
  if (sink === undefined) return { outcome: 'accepted' };
  try {
    return sink.accept(signed);
  } catch {
    return { outcome: 'refused', reason: 'sink_failed' };
  }
}

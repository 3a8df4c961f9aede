import type { SignedVoucher } from '../../protocol/voucher.js';

/** What became of a voucher handed to the sink. */
export type VoucherOutcome =
  | { readonly outcome: 'stored' }
  | { readonly outcome: 'stale' }
  | { readonly outcome: 'refused'; readonly reason: string };

/**
 * Where a provider puts the vouchers its consumers sign for offloaded work (DESIGN.md "Wire
 * protocol"). The sink verifies, keeps the latest voucher per session durably, and passes it on
 * to the settlement service, which credits offloaded work only up to what was vouched.
 */
export interface VoucherSink {
  accept(signed: SignedVoucher): VoucherOutcome;
}

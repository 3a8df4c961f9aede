import type { Logger } from 'pino';
import type { NodeIdentity } from '../../protocol/identity.js';
import type { RateLimiter, RatePolicy } from '../../protocol/rate-limit.js';
import type { Tolerance } from '../spotcheck/check.js';
import type { ModelRegistry } from '../spotcheck/registry.js';
import type { SqlDb } from '../store/db.js';
import type { IngestComponents, IngestInit } from './ingest.js';

export interface SettlementInit {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Epochs close this often. */
  readonly epochMs: number;
  /** Fraction of receipts spot-checked per epoch, in parts per million. */
  readonly spotCheckPpm: number;
  /** How long a provider has to reveal a challenged receipt. */
  readonly revealWindowMs: number;
  readonly tolerance: Tolerance;
  readonly maxBodyBytes: number;
  readonly maxReceipts: number;
  readonly maxPastMs: number;
  readonly maxFutureMs: number;
  readonly requireRegistration: boolean;
  readonly ratePerAddress: RatePolicy;
  readonly ratePerNode: RatePolicy;
}

/** What every route handler needs; built once by the service. */
export interface ServiceContext {
  readonly init: SettlementInit;
  readonly db: SqlDb;
  readonly identity: NodeIdentity;
  readonly registry: ModelRegistry;
  readonly log: Logger;
  readonly ingestInit: IngestInit;
  readonly ingestComponents: IngestComponents;
  readonly addressLimiter: RateLimiter;
  readonly nodeLimiter: RateLimiter;
  /** Where the built page is (dist/settlement-page unless the components name another). */
  readonly pageDir: string;
  /** Counts an outcome for the service's stats. */
  count(what: string): void;
}

export const DEFAULT_SETTLEMENT_INIT: SettlementInit = Object.freeze({
  host: '127.0.0.1',
  port: 8710,
  epochMs: 60_000,
  spotCheckPpm: 10_000,
  revealWindowMs: 10 * 60_000,
  tolerance: Object.freeze({ abs: 1e-4, rel: 1e-3 }),
  maxBodyBytes: 8 << 20,
  maxReceipts: 10_000,
  // Agents on flaky links may hold receipts for days; receipts from the future are clock faults.
  maxPastMs: 7 * 86_400_000,
  maxFutureMs: 5 * 60_000,
  requireRegistration: false,
  ratePerAddress: Object.freeze({ burst: 200, perSecond: 100 }),
  ratePerNode: Object.freeze({ burst: 50, perSecond: 20 }),
});

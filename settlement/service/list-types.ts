/**
 * The JSON the read-only list endpoints answer (docs/settlement.md "Lists"). Types only, no
 * imports: the service's page (settlement/page/web) takes them as type-only imports, so a
 * change to an answer shows up as a type error in the page rather than as a blank cell.
 *
 * Keys are given twice where a person and a program both read them: `node` is the PeerId
 * (what agents log and the CLI prints), `publicKey` the 64-hex key the ledger stores.
 * Every list is newest first and bounded; `next`, when not null, is the `before=` value that
 * fetches the following page.
 */

export interface EpochListItem {
  readonly epoch: number;
  readonly openedAtMs: number;
  /** null while the epoch is open. */
  readonly closedAtMs: number | null;
  /** Reward leaves (nodes with any credit so far); null while open. */
  readonly leafCount: number | null;
  /** Credit this close added, over every node. */
  readonly credit: number;
  /** Sum of every leaf: all credit up to and including this close. */
  readonly totalCredit: number;
  /** Nodes whose cumulative credit grew at this close. */
  readonly nodesCredited: number;
  readonly rewardRoot: string | null;
}

export interface EpochList {
  readonly epochs: readonly EpochListItem[];
  readonly next: string | null;
}

export interface NodeListItem {
  readonly node: string;
  readonly publicKey: string;
  readonly registered: boolean;
  readonly credited: number;
  readonly pending: number;
  readonly voided: number;
  /** Receipts answered with each status (valid, duplicate, equivocation, …). */
  readonly receipts: Readonly<Record<string, number>>;
  readonly openChallenges: number;
  readonly lastEpoch: { readonly epoch: number; readonly cumulative: number } | null;
}

export interface NodeList {
  readonly nodes: readonly NodeListItem[];
  /** Nodes are ordered by public key; `next` is the last key of this page, for `after=`. */
  readonly next: string | null;
}

/** GET /v1/nodes/<node>/epochs: the contract the agent's dashboard reads. */
export interface NodeEpochItem {
  readonly epoch: number;
  readonly closedAtMs: number | null;
  /** Credit this close added to the node. */
  readonly credit: number;
  /** The node's reward leaf: every credit up to and including this close. */
  readonly cumulative: number;
  /** Receipts whose credit this close brought in; null when the ledger cannot tell. */
  readonly receipts: number | null;
}

export interface NodeEpochs {
  readonly node: string;
  readonly epochs: readonly NodeEpochItem[];
  readonly next: string | null;
}

export interface EquivocationItem {
  readonly node: string;
  readonly publicKey: string;
  readonly pipeline: string;
  readonly sequence: number;
  /** The receipt that holds the slot (the first one seen); null if it was never stored. */
  readonly keptReceipt: string | null;
  /** The other body signed for the same slot, kept as evidence. */
  readonly receipt: string;
  readonly detectedAtMs: number;
  /** Receipt fields on which the two bodies differ (empty when the kept one is unknown). */
  readonly differs: readonly string[];
}

export interface EquivocationList {
  readonly equivocations: readonly EquivocationItem[];
  readonly next: string | null;
}

/** open → passed | failed (reveal re-ran to other tensors) | missed (no reveal by the deadline). */
export type SpotCheckState = 'open' | 'passed' | 'failed' | 'missed';

export interface SpotCheckItem {
  readonly node: string;
  readonly publicKey: string;
  readonly receipt: string;
  readonly pipeline: string | null;
  /** The close that picked the receipt, and when it happened. */
  readonly epoch: number;
  readonly openedAtMs: number | null;
  readonly deadlineMs: number;
  readonly state: SpotCheckState;
  /** null while open, and for challenges resolved before the ledger kept the time. */
  readonly resolvedAtMs: number | null;
  readonly reason: string | null;
}

export interface SpotCheckList {
  readonly spotchecks: readonly SpotCheckItem[];
  readonly next: string | null;
}

/** GET /v1/service. */
export interface ServiceInfo {
  readonly peerId: string;
  readonly publicKey: string;
  readonly epochMs: number;
  readonly spotCheckPpm: number;
  readonly revealWindowMs: number;
  readonly maxBodyBytes: number;
  readonly maxReceipts: number;
  readonly requireRegistration: boolean;
}

/**
 * The operator API's documents as the page reads them (docs/operator-api.md). Every string in
 * them is data from the site (sensor names come from MQTT topics): it is only ever put into
 * the page as text, never as markup.
 */
export interface RecentResult {
  readonly pipeline: string;
  readonly sensor: string;
  readonly seq: number;
  readonly model: string;
  readonly score: number | null;
  readonly threshold: number | null;
  readonly anomaly: boolean;
  readonly label?: string;
  readonly ts: number;
}

export interface PipelineStatus {
  readonly id: string;
  readonly state: string;
  readonly readings: number;
  readonly windows: number;
  readonly results: number;
  readonly anomalies: number;
  readonly inferenceFailures: number;
  readonly queueDropped: number;
  readonly queueDepth: number;
  readonly offloading: number;
  readonly sensors: number;
  readonly rejected: Readonly<Record<string, number>>;
}

export interface PeerStatus {
  readonly id: string;
  readonly name: string;
  readonly broker: string | null;
  readonly loadPermille?: number;
}

export interface ReceiptsStatus {
  readonly pending: number;
  readonly inFlightBatch: number | null;
  readonly appended: number;
  readonly refused: number;
  readonly acknowledgedReceipts: number;
  readonly lastAckAtMs: number | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly atMs: number } | null;
  readonly url: string;
  /** What settlement last said it credited this node; absent from agents that do not ask. */
  readonly credits?: {
    readonly credited: number;
    readonly pending: number;
    readonly voided: number;
    readonly lastEpoch: { readonly epoch: number; readonly cumulative: number } | null;
    readonly atMs: number;
  } | null;
}

export interface AgentStatus {
  readonly node: { readonly id: string; readonly name: string; readonly version: string };
  readonly mqtt: { readonly url: string; readonly connected: boolean };
  readonly pipelines: readonly PipelineStatus[];
  readonly receipts?: ReceiptsStatus;
  readonly mesh?: { readonly peers?: readonly PeerStatus[] };
  readonly uptimeSeconds?: number;
}

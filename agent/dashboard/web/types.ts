/**
 * The operator API's documents as the page reads them (docs/operator-api.md). Every string in
 * them is data from the site (sensor names come from MQTT topics): it is only ever put into
 * the page as text, never as markup.
 */
// Type-only imports: the agent's own definitions, erased from the bundle.
export type { Activity } from '../../activity.js';
export type { RecentResult } from '../../http/recent.js';
export type { EpochCredit } from '../../receipts/credits.js';

import type { Activity } from '../../activity.js';

import type { PipelineStats } from '../../pipeline/pipeline.js';
import type { ReceiptsStatus as AgentReceiptsStatus } from '../../receipts/status-file.js';

export type PipelineStatus = PipelineStats;

export interface PeerStatus {
  readonly id: string;
  readonly name: string;
  readonly broker: string | null;
  readonly loadPermille?: number;
}

export type ReceiptsStatus = AgentReceiptsStatus & { readonly url: string };

export interface AgentStatus {
  readonly node: { readonly id: string; readonly name: string; readonly version: string };
  readonly mqtt: { readonly url: string; readonly connected: boolean };
  readonly pipelines: readonly PipelineStatus[];
  readonly receipts?: ReceiptsStatus;
  readonly mesh?: { readonly peers?: readonly PeerStatus[] };
  readonly uptimeSeconds?: number;
  readonly activities?: readonly Activity[];
}

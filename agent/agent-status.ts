import type { Activity } from './activity.js';
import type { ModelStatus } from './model-swaps.js';
import type { PartFailure } from './part-failures.js';
import type { PipelineStats } from './pipeline/pipeline.js';
import type { ReceiptsStatus } from './receipts/status-file.js';

/** What `GET /v1/status`, its `status` events and `fieldmesh status` show (docs/operator-api.md). */
export interface AgentStatus {
  node: { id: string; name: string; version: string };
  mqtt: { url: string; connected: boolean };
  broker?: { url: string };
  models: ModelStatus[];
  pipelines: PipelineStats[];
  failures: PartFailure[];
  /** Present when settlement is configured and the receipt parts started. */
  receipts?: ReceiptsStatus & { url: string };
  /** Present when the mesh is enabled: peers, site broker, offload counts. */
  mesh?: Record<string, unknown>;
  /** Long operations in flight (model fetches, outbox drains) and those just finished. */
  activities?: Activity[];
}

import type { topicsFor } from '../protocol/topics.js';
import { createCalibrationStore } from './calibrate/store.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import type { MeshNode } from './mesh/mesh-node.js';
import type { ModelSwaps } from './model-swaps.js';
import type { MqttLink } from './mqtt/link.js';
import type { PartFailures } from './part-failures.js';
import type { PipelineObserver } from './pipeline/observer.js';
import { Pipeline, type PipelineReceipts } from './pipeline/pipeline.js';

export interface PipelineStartParts {
  readonly config: Readonly<Config>;
  readonly link: MqttLink;
  readonly models: ModelSwaps;
  readonly mesh: MeshNode | null;
  readonly topics: ReturnType<typeof topicsFor>;
  readonly nodeId: string;
  readonly logger: Logger;
  readonly failures: PartFailures;
  readonly receipts?: PipelineReceipts | undefined;
  readonly observer?: PipelineObserver | undefined;
}

/**
 * Starts the enabled pipelines, or only those in `only` (they waited for a fetched model), each
 * in its own try/catch: a pipeline whose model did not load, or that refuses to start, is a
 * part failure and the others run. Resolves with the pipelines that started.
 */
export async function startPipelines(
  parts: PipelineStartParts,
  only?: ReadonlySet<string>,
): Promise<Pipeline[]> {
  const started: Pipeline[] = [];
  for (const cfg of parts.config.pipelines) {
    if (!cfg.enabled || (only !== undefined && !only.has(cfg.id))) continue;
    const model = parts.models.get(cfg.model);
    if (!model) {
      parts.failures.fail(
        `pipeline ${cfg.id}`,
        new Error(`not started: its model "${cfg.model}" did not load (see above)`),
      );
      continue;
    }
    try {
      const remote = parts.mesh?.remoteLane(cfg, () => model.current.sha256, model.windowSize, model);
      const pipeline = new Pipeline(cfg, {
        link: parts.link,
        model,
        ...(remote ? { remote } : {}),
        topics: parts.topics,
        nodeId: parts.nodeId,
        logger: parts.logger.child({ component: 'pipeline', pipeline: cfg.id }),
        ...(parts.receipts === undefined ? {} : { receipts: parts.receipts }),
        ...(parts.observer ? { observer: parts.observer } : {}),
        ...(cfg.calibration
          ? { calibrationStore: createCalibrationStore(parts.config.node.dataDir, cfg.id) }
          : {}),
      });
      await pipeline.start();
      started.push(pipeline);
    } catch (err) {
      parts.failures.fail(`pipeline ${cfg.id}`, err);
    }
  }
  return started;
}

import type { PipelineConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { MqttLink } from '../mqtt/link.js';
import { SparkplugInput, type SparkplugInputComponents } from './sparkplug-input.js';
import { SparkplugOutput } from './sparkplug-output.js';

export {
  type Refusal,
  type ReportedReason,
  SparkplugInput,
  type SparkplugInputStats,
  sparkplugInputProblem,
} from './sparkplug-input.js';
export { SparkplugOutput } from './sparkplug-output.js';

/** Builds a pipeline's Sparkplug parts from its config; null when the pipeline has none. */

/** The input, when `input.format` is sparkplug; call sparkplugInputProblem first. */
export function createSparkplugInput(
  cfg: PipelineConfig,
  components: SparkplugInputComponents,
): SparkplugInput | null {
  const { input } = cfg;
  if (input.format !== 'sparkplug' || input.sparkplug === undefined) return null;
  return new SparkplugInput(
    {
      metrics: input.sparkplug.metrics,
      maxBytes: input.maxBytes,
      // An edge node holds at least one sensor, so this bound never binds before window.maxSensors.
      maxEdgeNodes: cfg.window.maxSensors,
      rebirth: input.sparkplug.rebirth,
      rebirthIntervalMs: input.sparkplug.rebirthIntervalMs,
    },
    components,
  );
}

/** The results edge node, when `results.sparkplug` is set. */
export function createSparkplugOutput(
  cfg: PipelineConfig,
  components: { link: MqttLink; logger: Logger; now?: () => number },
): SparkplugOutput | null {
  const out = cfg.results.sparkplug;
  if (out === undefined) return null;
  return new SparkplugOutput(
    { group: out.group, edgeNode: out.edgeNode, device: out.device ?? cfg.id },
    {
      link: components.link,
      logger: components.logger.child({ sparkplug: `${out.group}/${out.edgeNode}` }),
      now: components.now ?? Date.now,
    },
  );
}

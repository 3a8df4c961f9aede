/** Per-pipeline Home Assistant MQTT discovery (docs/home-assistant.md). */
import { z } from 'zod';

export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';

const haObject = z.strictObject({
  enabled: z.boolean().default(false).describe('Announce this pipeline to Home Assistant.'),
  discoveryPrefix: z
    .string()
    .regex(
      /^[^+#$\s][^+#\s]*$/,
      'an MQTT topic prefix without wildcards (+, #), spaces or a leading "$", e.g. homeassistant',
    )
    .transform((p) => p.replace(/\/+$/, ''))
    .default(DEFAULT_DISCOVERY_PREFIX)
    .describe("Home Assistant's MQTT discovery prefix (its MQTT integration setting)."),
  name: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe('Name Home Assistant shows for the entities; the pipeline id if absent.'),
});

export interface HomeAssistantConfig {
  enabled: boolean;
  discoveryPrefix: string;
  name?: string | undefined;
}

/**
 * `homeAssistant: true` is shorthand for `{ enabled: true }`; both come out as the full object,
 * so the agent reads one shape.
 */
export const homeAssistantSection = z
  .union([z.boolean(), haObject])
  .default(false)
  .transform(
    (v): HomeAssistantConfig =>
      typeof v === 'boolean' ? { enabled: v, discoveryPrefix: DEFAULT_DISCOVERY_PREFIX } : v,
  )
  .describe(
    'Home Assistant MQTT discovery of this pipeline\'s anomaly results (docs/home-assistant.md): true, or {enabled (default false), discoveryPrefix (default "homeassistant"), name (default the pipeline id)}.',
  );

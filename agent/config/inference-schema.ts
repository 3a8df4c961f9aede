/** Pipeline settings for how windows reach the model: micro-batching and on-device calibration. */
import { z } from 'zod';

export const calibrationSection = z
  .strictObject({
    windows: z
      .number()
      .int()
      .min(16)
      .max(100_000)
      .default(500)
      .describe('Probation length: windows collected (no verdicts published) before learning.'),
    quantile: z
      .number()
      .gt(0.5)
      .lt(1)
      .default(0.995)
      .describe('Threshold = margin × this quantile of the probation windows’ scores.'),
    margin: z.number().min(1).max(100).default(1.25).describe('Multiplies the score quantile.'),
    normalise: z
      .boolean()
      .default(true)
      .describe('Learn mean/std of the raw readings (conflicts with an explicit normalise).'),
    threshold: z
      .boolean()
      .default(true)
      .describe('Learn the anomaly threshold (conflicts with an explicit threshold).'),
  })
  .optional()
  .describe(
    'Learn normalisation and threshold on this device from a probation period of live data; see docs/calibration.md.',
  );

export const batchSection = z
  .strictObject({
    maxSize: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(64)
      .describe(
        'Most queued windows one model call takes (models whose input has a batch dimension; others run one window per call).',
      ),
    maxAddedLatencyMs: z
      .number()
      .min(0)
      .default(100)
      .describe(
        'Bound on the time a window waits for the rest of its batch to compute: a call takes at most 1 + this / (the measured time per window) windows. 0 runs every window alone. Batching never holds a window back waiting for others.',
      ),
  })
  .prefault({})
  .describe('Micro-batching: windows that queue up behind a running call run together in the next one.');

export const swapSection = z
  .strictObject({
    watch: z
      .boolean()
      .default(true)
      .describe(
        'Swap in a new version when the manifest file changes (checked on file events and every 30 s).',
      ),
    probationCalls: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(200)
      .describe('Calls the new version makes, with the previous one still loaded, before it is kept.'),
    maxErrorRate: z
      .number()
      .min(0)
      .max(1)
      .default(0.02)
      .describe(
        'Roll back once more than this share of probationCalls have failed (each failed call is run again on the previous version).',
      ),
    maxLatencyRatio: z
      .number()
      .min(1)
      .max(1000)
      .default(3)
      .describe(
        "Roll back at the end of probation when the new version's mean time per window is more than this many times the previous one's.",
      ),
  })
  .default({ watch: true, probationCalls: 200, maxErrorRate: 0.02, maxLatencyRatio: 3 })
  .describe('Hot swap of this model to a new version; see docs/model-swap.md.');

export const shadowSection = z
  .strictObject({
    manifest: z
      .string()
      .min(1)
      .describe('Manifest of the candidate, relative to the config; watched like the main one.'),
  })
  .optional()
  .describe(
    'A candidate run beside this model on the same windows; its results go to pipelines/<id>/shadow. See docs/model-swap.md.',
  );

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

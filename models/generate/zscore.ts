/**
 * The plain statistical baseline the example models are measured against: a rolling z-score.
 * A window scores the largest |x − μ| / σ of its readings, where μ and σ are the mean and
 * (population) standard deviation of the ZSCORE_HISTORY readings just before the window — the
 * window itself excluded, so a fault cannot hide by inflating σ in its own window. Pure functions.
 */
import { streamReadings, windowStarts } from './eval-data.js';
import { type ExampleSpec, streamSeed, thresholdByRule } from './examples.js';

/** Readings of history behind each window's μ and σ. */
export const ZSCORE_HISTORY = 256;

/**
 * The z-score of each window starting at `starts` (each ≥ `history`). When the history has no
 * spread at all (a long flat line), any change is an infinite deviation and no change is 0.
 */
export function zscoreWindowScores(
  readings: ArrayLike<number>,
  starts: readonly number[],
  window: number,
  history = ZSCORE_HISTORY,
): Float64Array {
  const out = new Float64Array(starts.length);
  starts.forEach((start, w) => {
    if (start < history || start + window > readings.length) {
      throw new RangeError(
        `window at ${start} needs ${history} readings before it and ${window} from it; the stream has ${readings.length}`,
      );
    }
    let sum = 0;
    for (let i = start - history; i < start; i++) sum += readings[i] as number;
    const mean = sum / history;
    let sq = 0;
    for (let i = start - history; i < start; i++) sq += ((readings[i] as number) - mean) ** 2;
    const std = Math.sqrt(sq / history);
    let worst = 0;
    for (let i = start; i < start + window; i++) {
      const deviation = Math.abs((readings[i] as number) - mean);
      const z = std > 0 ? deviation / std : deviation > 0 ? Number.POSITIVE_INFINITY : 0;
      if (z > worst) worst = z;
    }
    out[w] = worst;
  });
  return out;
}

/**
 * The baseline's threshold, by the model's own rule (thresholdByRule) on the model's own
 * held-out normal streams: every window of those streams that has a full history behind it.
 */
export function zscoreThreshold(spec: ExampleSpec, history = ZSCORE_HISTORY): number {
  const length = spec.window + (spec.windowsPerStream - 1) * spec.stride;
  const scores: number[] = [];
  for (let i = 0; i < spec.heldOutStreams; i++) {
    const { values } = streamReadings(spec.kind, streamSeed(spec, 'heldOut', i), length);
    const starts = windowStarts(length, spec.window, spec.stride, history);
    scores.push(...zscoreWindowScores(values, starts, spec.window, history));
  }
  return thresholdByRule(spec, scores);
}

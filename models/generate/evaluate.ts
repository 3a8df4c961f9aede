/** Normalisation, threshold choice and detection quality for anomaly scores. Pure functions. */

export interface Normalisation {
  readonly mean: number;
  readonly std: number;
}

/** One mean/std over every value: the agent applies the same scalar pair to each reading. */
export function normalisationOf(values: ArrayLike<number>): Normalisation {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  const mean = sum / values.length;
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += ((values[i] as number) - mean) ** 2;
  const std = Math.sqrt(sq / values.length);
  if (!(std > 0)) throw new RangeError('cannot normalise values with no spread (std is 0)');
  return { mean, std };
}

export function normalise(values: ArrayLike<number>, n: Normalisation): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = ((values[i] as number) - n.mean) / n.std;
  return out;
}

/** The q-quantile (0..1) by linear interpolation between order statistics. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new RangeError('quantile of no values');
  const sorted = Float64Array.from(values).sort();
  const pos = Math.min(Math.max(q, 0), 1) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

export interface DetectionStats {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
  readonly trueNegatives: number;
  /** Of the windows flagged, the share that held a fault (1 when nothing was flagged). */
  readonly precision: number;
  /** Of the windows that held a fault, the share flagged (1 when none held one). */
  readonly recall: number;
}

/** Flags windows whose score is above `threshold` and compares with the labels. */
export function detectionStats(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold: number,
): DetectionStats {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = (scores[i] as number) > threshold;
    const faulty = (labels[i] as number) !== 0;
    if (flagged && faulty) tp++;
    else if (flagged) fp++;
    else if (faulty) fn++;
    else tn++;
  }
  return {
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    trueNegatives: tn,
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
  };
}

/** Sums the counts of several runs and recomputes precision and recall over the whole. */
export function combineStats(parts: readonly DetectionStats[]): DetectionStats {
  const sum = (k: 'truePositives' | 'falsePositives' | 'falseNegatives' | 'trueNegatives') =>
    parts.reduce((n, p) => n + p[k], 0);
  const tp = sum('truePositives');
  const fp = sum('falsePositives');
  const fn = sum('falseNegatives');
  return {
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    trueNegatives: sum('trueNegatives'),
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
  };
}

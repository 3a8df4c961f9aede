/**
 * Window features: summary statistics of a normalised window, for models trained on features
 * rather than on raw readings (a scikit-learn IsolationForest or random forest, say). A
 * manifest lists them in `preprocessing.features`; the model's window input then takes one
 * value per feature, in the listed order (docs/model-inputs.md §2).
 */

export const FEATURE_NAMES = [
  'mean',
  'std',
  'min',
  'max',
  'peakToPeak',
  'rms',
  'crest',
  'skewness',
  'kurtosis',
  'slope',
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];

/** What each feature is, for the docs and `models inspect`. */
export const FEATURE_MEANINGS: Readonly<Record<FeatureName, string>> = {
  mean: 'the mean of the readings',
  std: 'their standard deviation (population, divided by n)',
  min: 'the smallest reading',
  max: 'the largest reading',
  peakToPeak: 'max − min',
  rms: 'the root mean square',
  crest: 'the largest |reading| ÷ rms (0 when rms is 0)',
  skewness: 'the third standardised moment (0 when std is 0)',
  kurtosis: 'the fourth standardised moment, not excess: 3 for a normal distribution (0 when std is 0)',
  slope: 'the least-squares slope per reading against the reading index',
};

/** Writes the listed features of `window` into `out` starting at `at`. */
export function writeFeatures(
  window: Float32Array,
  names: readonly FeatureName[],
  out: Float32Array,
  at: number,
): void {
  const m = moments(window);
  names.forEach((name, i) => {
    out[at + i] = featureOf(name, m);
  });
}

interface Moments {
  readonly n: number;
  readonly mean: number;
  readonly m2: number;
  readonly m3: number;
  readonly m4: number;
  readonly min: number;
  readonly max: number;
  readonly sumSq: number;
  readonly slope: number;
}

function moments(w: Float32Array): Moments {
  const n = w.length;
  let sum = 0;
  let sumSq = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = w[i] as number;
    sum += v;
    sumSq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = n === 0 ? 0 : sum / n;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  let sxy = 0;
  const xMean = (n - 1) / 2;
  for (let i = 0; i < n; i++) {
    const d = (w[i] as number) - mean;
    const d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
    sxy += (i - xMean) * d;
  }
  const sxx = (n * (n * n - 1)) / 12; // Σ (i − x̄)² for i = 0 … n − 1
  return {
    n,
    mean,
    m2: n === 0 ? 0 : m2 / n,
    m3: n === 0 ? 0 : m3 / n,
    m4: n === 0 ? 0 : m4 / n,
    min: n === 0 ? 0 : min,
    max: n === 0 ? 0 : max,
    sumSq,
    slope: sxx === 0 ? 0 : sxy / sxx,
  };
}

function featureOf(name: FeatureName, m: Moments): number {
  const std = Math.sqrt(m.m2);
  const rms = m.n === 0 ? 0 : Math.sqrt(m.sumSq / m.n);
  switch (name) {
    case 'mean':
      return m.mean;
    case 'std':
      return std;
    case 'min':
      return m.min;
    case 'max':
      return m.max;
    case 'peakToPeak':
      return m.max - m.min;
    case 'rms':
      return rms;
    case 'crest':
      return rms === 0 ? 0 : Math.max(Math.abs(m.min), Math.abs(m.max)) / rms;
    case 'skewness':
      return m.m2 === 0 ? 0 : m.m3 / m.m2 ** 1.5;
    case 'kurtosis':
      return m.m2 === 0 ? 0 : m.m4 / (m.m2 * m.m2);
    case 'slope':
      return m.slope;
  }
}

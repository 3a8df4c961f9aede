import { FieldmeshError } from '../../protocol/errors.js';

/** Below this a standard deviation is treated as zero. */
const MIN_STD = 1e-12;

/**
 * Writes (x - mean) / std of every value into `out` (a new array when absent; `values` itself
 * for in place) and returns it. A zero, tiny, negative or non-finite std would turn every
 * sample into ±Infinity or NaN, so it is treated as 1: the values are only centred, the rule
 * scikit-learn's StandardScaler applies to a constant feature. A non-finite mean is treated as 0
 * for the same reason. When `out` is longer than `values`, its tail is left as it was.
 */
export function normaliseInto(
  values: Float32Array,
  mean: number,
  std: number,
  out: Float32Array = new Float32Array(values.length),
): Float32Array {
  if (out.length < values.length) {
    throw new FieldmeshError(
      'NORMALISE_OUT_TOO_SHORT',
      `normalise: the output array holds ${out.length} values but the window has ${values.length}; ` +
        'allocate it with the window size',
    );
  }
  const scale = Number.isFinite(std) && std >= MIN_STD ? 1 / std : 1;
  const centre = Number.isFinite(mean) ? mean : 0;
  for (let i = 0; i < values.length; i++) out[i] = ((values[i] as number) - centre) * scale;
  return out;
}

/**
 * p50/p95 inference latency per pipeline from the `fieldmesh_inference_seconds` histogram of
 * /metrics, the way Prometheus' histogram_quantile() estimates it: find the bucket the rank
 * falls in and interpolate linearly inside it. Pure: text in, numbers out.
 */

export interface Latency {
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly count: number;
}

const BUCKET = /^fieldmesh_inference_seconds_bucket\{(.*)\}\s+(\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

function labelsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(LABEL)) {
    out[m[1] as string] = (m[2] as string).replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
  }
  return out;
}

/** Cumulative bucket counts per pipeline, summed over its models (one model call = one observation). */
function bucketsByPipeline(metrics: string): Map<string, Map<number, number>> {
  const byPipeline = new Map<string, Map<number, number>>();
  for (const line of metrics.split('\n')) {
    const m = BUCKET.exec(line.trim());
    if (!m) continue;
    const labels = labelsOf(m[1] as string);
    const pipeline = labels.pipeline;
    const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le);
    const count = Number(m[2]);
    if (pipeline === undefined || Number.isNaN(le) || !Number.isFinite(count)) continue;
    const buckets = byPipeline.get(pipeline) ?? new Map<number, number>();
    buckets.set(le, (buckets.get(le) ?? 0) + count);
    byPipeline.set(pipeline, buckets);
  }
  return byPipeline;
}

/** The q-quantile of cumulative buckets, in seconds; undefined without observations. */
export function quantile(q: number, buckets: ReadonlyMap<number, number>): number | undefined {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      // Past the largest finite bound there is nothing to interpolate to: report that bound.
      if (le === Number.POSITIVE_INFINITY) return lowerBound;
      if (count === lowerCount) return le;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

export function inferenceLatency(metrics: string): Record<string, Latency> {
  const out: Record<string, Latency> = {};
  for (const [pipeline, buckets] of bucketsByPipeline(metrics)) {
    const p50 = quantile(0.5, buckets);
    const p95 = quantile(0.95, buckets);
    if (p50 === undefined || p95 === undefined) continue;
    const count = buckets.get(Number.POSITIVE_INFINITY) ?? 0;
    out[pipeline] = { p50Ms: p50 * 1000, p95Ms: p95 * 1000, count };
  }
  return out;
}

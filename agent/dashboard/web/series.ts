/**
 * A pipeline's chart data: the last `capacity` scores, oldest first. Bounded so that a page
 * left open on a wall screen for weeks holds no more than it shows.
 */
export interface ScorePoint {
  readonly ts: number;
  readonly score: number;
  readonly anomaly: boolean;
  readonly sensor: string;
  readonly seq: number;
}

export const POINTS_PER_CHART = 300;

export class ScoreSeries {
  private points: ScorePoint[] = [];
  threshold: number | null = null;

  constructor(readonly capacity = POINTS_PER_CHART) {}

  get size(): number {
    return this.points.length;
  }

  all(): readonly ScorePoint[] {
    return this.points;
  }

  push(p: ScorePoint, threshold: number | null): void {
    this.points.push(p);
    // Amortised: trim in chunks rather than shifting one element per point.
    if (this.points.length > this.capacity * 1.25) this.points = this.points.slice(-this.capacity);
    if (threshold !== null) this.threshold = threshold;
  }

  /** Replaces the content with a history (any order), e.g. after a reconnect. */
  reset(points: readonly ScorePoint[], threshold: number | null): void {
    this.points = [...points].sort((a, b) => a.ts - b.ts).slice(-this.capacity);
    this.threshold = threshold;
  }

  /** The points the chart draws: the newest `capacity`. */
  visible(): readonly ScorePoint[] {
    return this.points.length > this.capacity ? this.points.slice(-this.capacity) : this.points;
  }
}

/**
 * The top of the chart's score axis: room above the threshold so the line is visible, and the
 * largest score shown, but not so far that one huge outlier flattens everything else.
 */
export function scoreAxisMax(scores: readonly number[], threshold: number | null): number {
  const finite = scores.filter((s) => Number.isFinite(s));
  const top = finite.length === 0 ? 0 : Math.max(...finite);
  if (threshold === null || threshold <= 0) return top > 0 ? top * 1.1 : 1;
  return Math.min(Math.max(top * 1.1, threshold * 1.5), threshold * 10);
}

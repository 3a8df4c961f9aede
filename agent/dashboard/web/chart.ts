import { formatScore, formatTime, svg } from './dom.js';
import { type ScoreSeries, scoreAxisMax } from './series.js';

/** The chart's own coordinates; the SVG scales to the card's width. */
const W = 600;
const H = 160;
const PAD = 4;

/**
 * A line chart of a pipeline's anomaly scores against its threshold, drawn as SVG: the score
 * line, the threshold dashed, anomalies as red marks (each with its sensor in a tooltip).
 * Redrawn whole from the bounded series, so it holds nothing of its own.
 */
export function createChart(pipeline: string): SVGSVGElement {
  return svg('svg', {
    class: 'chart',
    viewBox: `0 0 ${W} ${H}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': `anomaly scores of ${pipeline}`,
    'data-points': 0,
  });
}

export function drawChart(chart: SVGSVGElement, series: ScoreSeries): void {
  const points = series.visible();
  const threshold = series.threshold;
  const max = scoreAxisMax(
    points.map((p) => p.score),
    threshold,
  );
  const x = (i: number) => (points.length <= 1 ? W : PAD + (i / (points.length - 1)) * (W - 2 * PAD));
  const y = (v: number) => H - PAD - (Math.min(Math.max(v, 0), max) / max) * (H - 2 * PAD);
  const parts: SVGElement[] = [];
  if (threshold !== null) {
    const ty = y(threshold).toFixed(1);
    parts.push(svg('line', { class: 'threshold', x1: 0, x2: W, y1: ty, y2: ty }));
  }
  if (points.length > 0) {
    const coords = points.map((p, i) => `${x(i).toFixed(1)},${y(p.score).toFixed(1)}`).join(' ');
    parts.push(svg('polyline', { class: 'score', points: coords }));
  }
  points.forEach((p, i) => {
    if (!p.anomaly) return;
    const px = x(i).toFixed(1);
    const title = `${p.sensor} #${p.seq}: ${formatScore(p.score)} at ${formatTime(p.ts)}`;
    parts.push(
      svg('line', { class: 'anomaly', x1: px, x2: px, y1: PAD, y2: H - PAD }, svg('title', {}, title)),
    );
  });
  chart.replaceChildren(...parts);
  chart.setAttribute('data-points', String(points.length));
  chart.setAttribute('data-max', formatScore(max));
}

/**
 * A small Prometheus registry and its text exposition format 0.0.4, by hand: counters and gauges
 * are read at scrape time from the counters the parts already keep; histograms are the only
 * state kept here. Pure code, no I/O.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  readonly labels?: Labels;
  readonly value: number;
}

/** Label values escape backslash, double quote and line feed (the format's three escapes). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed only. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

function labelText(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/**
 * A histogram per label set. observe() is O(buckets) with no allocation once a series exists;
 * bucket counts are kept per bucket and made cumulative when written.
 */
export class Histogram {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();

  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds, ascending; +Inf is implied. */
    readonly bounds: readonly number[],
  ) {
    for (let i = 1; i < bounds.length; i++) {
      if (!((bounds[i] as number) > (bounds[i - 1] as number)))
        throw new Error(`histogram ${name}: bucket bounds must ascend`);
    }
  }

  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    s.counts[i] = (s.counts[i] as number) + 1;
    s.sum += value;
    s.count++;
  }

  /** The `_bucket`, `_sum` and `_count` lines of every series. */
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      const les = [...this.bounds.map(formatValue), '+Inf'];
      les.forEach((le, i) => {
        cumulative += s.counts[i] as number;
        out.push(`${this.name}_bucket${labelText({ ...s.labels, le })} ${cumulative}`);
      });
      out.push(`${this.name}_sum${labelText(s.labels)} ${formatValue(s.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Collects the families of one scrape, in order, and writes them as one text document. */
export class Exposition {
  private readonly out: string[] = [];

  counter(name: string, help: string, samples: readonly Sample[]): this {
    return this.family(name, help, 'counter', samples);
  }

  gauge(name: string, help: string, samples: readonly Sample[]): this {
    return this.family(name, help, 'gauge', samples);
  }

  histogram(h: Histogram): this {
    this.header(h.name, h.help, 'histogram');
    this.out.push(...h.lines());
    return this;
  }

  text(): string {
    return `${this.out.join('\n')}\n`;
  }

  private family(name: string, help: string, type: string, samples: readonly Sample[]): this {
    this.header(name, help, type);
    for (const s of samples) this.out.push(`${name}${labelText(s.labels)} ${formatValue(s.value)}`);
    return this;
  }

  private header(name: string, help: string, type: string): void {
    this.out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }
}

/**
 * Progress of a long operation. On a terminal: one line redrawn in place,
 * `label [#####.....] 45% 3.2/7.1 MB 1.2 MB/s`, at most 10 times a second so a fast loop does
 * not spend its time painting. Anywhere else (a pipe, a CI log, journald): a plain line at the
 * start, at most one every 10 s in between and one at the end, so logs stay readable.
 */

export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

export interface ProgressOptions {
  readonly label: string;
  /** What is counted: bytes print as MB with a rate; counts as "3/7". */
  readonly unit?: 'bytes' | 'count';
  readonly total?: number;
  readonly stream?: ProgressStream;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Clock in ms (tests move it by hand). */
  readonly now?: () => number;
}

export const TTY_REDRAW_MS = 100;
export const PLAIN_EVERY_MS = 10_000;
const BAR_WIDTH = 20;

export class Progress {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly tty: boolean;
  private readonly startedAt: number;
  private total: number | undefined;
  private done = 0;
  private detail = '';
  private lastDrawAt = Number.NEGATIVE_INFINITY;
  private finished = false;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? Date.now;
    const env = options.env ?? process.env;
    // A dumb terminal cannot erase a line; it gets the plain lines a log gets.
    this.tty = this.stream.isTTY === true && env.TERM !== 'dumb';
    this.total = options.total;
    this.startedAt = this.now();
    if (this.tty) this.draw();
    else {
      this.lastDrawAt = this.startedAt;
      this.stream.write(`${this.options.label} …\n`);
    }
  }

  /**
   * Sets how much is done, the total once it is known, and what is being done now (a step
   * name). Cheap to call often: it draws at most every TTY_REDRAW_MS.
   */
  update(done: number, more: { total?: number; detail?: string } = {}): void {
    if (this.finished) return;
    this.done = done;
    if (more.total !== undefined) this.total = more.total;
    // A new step shows at once: it may last long, and a throttled line would hide it all along.
    const newStep = more.detail !== undefined && more.detail !== this.detail;
    if (more.detail !== undefined) this.detail = more.detail;
    const t = this.now();
    if (this.tty) {
      if (newStep || t - this.lastDrawAt >= TTY_REDRAW_MS) this.draw();
    } else if (t - this.lastDrawAt >= PLAIN_EVERY_MS) {
      this.lastDrawAt = t;
      this.stream.write(`${this.line(false)}\n`);
    }
  }

  /** Ends the line: `message` (default: the figures and the time taken) replaces the bar. */
  finish(message?: string): void {
    if (this.finished) return;
    this.finished = true;
    const seconds = ((this.now() - this.startedAt) / 1000).toFixed(1);
    const text = message ?? `${this.options.label} done: ${this.figures()} in ${seconds} s`;
    this.stream.write(this.tty ? `\r\u001b[2K${text}\n` : `${text}\n`);
  }

  private draw(): void {
    this.lastDrawAt = this.now();
    const columns = this.stream.columns ?? 80;
    // Never wrap: a wrapped line cannot be redrawn with \r.
    this.stream.write(`\r\u001b[2K${this.line(true).slice(0, Math.max(1, columns - 1))}`);
  }

  private line(bar: boolean): string {
    const parts = [this.options.label];
    const fraction = this.total ? Math.min(1, this.done / this.total) : undefined;
    if (fraction !== undefined) {
      if (bar) parts.push(barOf(fraction));
      parts.push(`${Math.floor(fraction * 100)}%`);
    }
    parts.push(this.figures());
    const rate = this.rate();
    if (rate) parts.push(rate);
    if (this.detail) parts.push(this.detail);
    return parts.join(' ');
  }

  private figures(): string {
    const total = this.total === undefined ? '' : `/${this.format(this.total)}`;
    return `${this.format(this.done)}${total}${this.options.unit === 'bytes' ? ' MB' : ''}`;
  }

  private format(n: number): string {
    return this.options.unit === 'bytes' ? mb(n) : String(n);
  }

  private rate(): string | undefined {
    if (this.options.unit !== 'bytes') return undefined;
    const seconds = (this.now() - this.startedAt) / 1000;
    return seconds > 0 ? `${mb(this.done / seconds)} MB/s` : undefined;
  }
}

/** `[#########...........]`: the bar of a fraction done, the same in every view. */
export function barOf(fraction: number, width = BAR_WIDTH): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

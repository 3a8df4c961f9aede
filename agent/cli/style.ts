/**
 * Colour for people, plain text for everything else: ANSI codes only when the stream is a
 * terminal, NO_COLOR is unset or empty (no-color.org) and TERM is not "dumb". FORCE_COLOR=1
 * (or any value but 0/false) turns it on anyway, for `less -R` and CI logs that render ANSI.
 */

export interface ColorStream {
  readonly isTTY?: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

export function colorEnabled(stream: ColorStream, env: Env = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
}

const wrap = (on: boolean, open: number, close: number) => (text: string) =>
  on ? `\u001b[${open}m${text}\u001b[${close}m` : text;

/** The styles for one stream, decided once: a redirect never gets half-coloured output. */
export function styleFor(stream: ColorStream, env: Env = process.env): Style {
  const on = colorEnabled(stream, env);
  return {
    enabled: on,
    bold: wrap(on, 1, 22),
    dim: wrap(on, 2, 22),
    red: wrap(on, 31, 39),
    green: wrap(on, 32, 39),
    yellow: wrap(on, 33, 39),
  };
}

/** Text without ANSI escapes: for measuring what a terminal shows. */
export function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the ESC byte is the point
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '').length;
}

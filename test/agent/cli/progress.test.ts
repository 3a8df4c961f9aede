import { describe, expect, it } from 'vitest';
import { PLAIN_EVERY_MS, Progress, TTY_REDRAW_MS } from '../../../agent/cli/progress.js';
import { colorEnabled, styleFor } from '../../../agent/cli/style.js';

const ESC = '\u001b';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 80, write: (t: string) => writes.push(t) } };
}

function clock() {
  let t = 1_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('Progress on a terminal', () => {
  it('redraws one line at most every 100 ms and ends with a final line', () => {
    const { writes, stream } = fakeStream(true);
    const c = clock();
    const p = new Progress({ label: 'model', unit: 'bytes', total: 7_100_000, stream, now: c.now, env: {} });
    expect(writes).toHaveLength(1); // drawn at once
    for (let i = 1; i <= 50; i++) {
      c.advance(10); // 50 updates over 500 ms
      p.update(i * 64_000);
    }
    const redraws = writes.length - 1;
    expect(redraws).toBeGreaterThanOrEqual(4);
    expect(redraws).toBeLessThanOrEqual(500 / TTY_REDRAW_MS);
    c.advance(1_000);
    p.update(3_200_000);
    const last = writes.at(-1) ?? '';
    expect(last.startsWith(`\r${ESC}[2K`)).toBe(true);
    expect(last).toMatch(/model \[#{9}\.{11}\] 45% 3\.2\/7\.1 MB 2\.1 MB\/s/);
    expect(last).not.toContain('\n');
    p.finish();
    expect(writes.at(-1)).toBe(`\r${ESC}[2Kmodel done: 3.2/7.1 MB in 1.5 s\n`);
    p.update(7_100_000); // after finish: nothing more
    expect(writes.at(-1)).toContain('done');
  });

  it('shows a new step at once, whatever the throttle, and never wraps at 80 columns', () => {
    const { writes, stream } = fakeStream(true);
    const c = clock();
    const p = new Progress({ label: 'x'.repeat(70), total: 4, stream, now: c.now, env: {} });
    p.update(1, { detail: 'licences' });
    p.update(2, { detail: 'Node 24' });
    expect(writes).toHaveLength(3);
    for (const w of writes) expect(w.replace(`\r${ESC}[2K`, '').length).toBeLessThanOrEqual(79);
  });
});

describe('Progress in a log (not a terminal)', () => {
  it('writes a start line, at most one line per 10 s, and an end line, without escapes', () => {
    const { writes, stream } = fakeStream(false);
    const c = clock();
    const p = new Progress({ label: 'receipts', total: 100, stream, now: c.now, env: {} });
    expect(writes).toEqual(['receipts …\n']);
    for (let i = 1; i <= 100; i++) {
      c.advance(250); // 25 s in all
      p.update(i);
    }
    expect(writes.length).toBeLessThanOrEqual(1 + Math.ceil(25_000 / PLAIN_EVERY_MS));
    p.finish('receipts: 100 sent');
    expect(writes.at(-1)).toBe('receipts: 100 sent\n');
    expect(writes.join('')).not.toContain(ESC);
    expect(writes.join('')).not.toContain('\r');
    for (const w of writes) expect(w.endsWith('\n')).toBe(true);
  });

  it('treats TERM=dumb like a log', () => {
    const { writes, stream } = fakeStream(true);
    new Progress({ label: 'x', stream, env: { TERM: 'dumb' } }).finish();
    expect(writes.join('')).not.toContain(ESC);
  });
});

describe('colour', () => {
  it('is on for a terminal only, off with NO_COLOR or TERM=dumb, forced by FORCE_COLOR', () => {
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({}, {})).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
    expect(styleFor({ isTTY: false }, {}).red('x')).toBe('x');
    expect(styleFor({ isTTY: true }, {}).red('x')).toBe(`${ESC}[31mx${ESC}[39m`);
  });
});

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.js';

function collect(format: 'json' | 'pretty'): { lines: () => string; log: ReturnType<typeof createLogger> } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const log = createLogger({ level: 'info', format, destination: out });
  return { lines: () => text, log };
}

describe('createLogger', () => {
  it('pretty: readable lines on the calling thread, written at once (no transport worker)', () => {
    const { lines, log } = collect('pretty');
    log.child({ component: 'pipeline' }).warn({ pipeline: 'vibration' }, 'model refused');
    log.debug('below the level');
    // Written synchronously: a release executable has no node_modules for a transport worker.
    const text = lines();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN \(\d+\): model refused\n/);
    expect(text).toContain('component: "pipeline"');
    expect(text).toContain('pipeline: "vibration"');
    expect(text).not.toContain('below the level');
    expect(text).not.toContain('\u001b['); // not a TTY: no colour
  });

  it('json: one object per line for log collectors', async () => {
    const { lines, log } = collect('json');
    log.info({ n: 1 }, 'hello');
    await new Promise((r) => setImmediate(r));
    const line = JSON.parse(lines().trim());
    expect(line).toMatchObject({ level: 30, msg: 'hello', n: 1 });
  });
});

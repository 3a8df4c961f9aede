import { describe, expect, it } from 'vitest';
import { ActivityTracker, rateAndEta } from '../../agent/activity.js';
import { activityText } from '../../agent/cli/activity-line.js';
import { createLogger } from '../../agent/log.js';

function harness() {
  let t = 1_000_000;
  const lines: Record<string, unknown>[] = [];
  const destination = {
    write: (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  const logger = createLogger({ level: 'info', format: 'json', destination });
  const tracker = new ActivityTracker(
    { logEveryMs: 10_000, keepFinishedMs: 60_000 },
    { logger, now: () => t },
  );
  return { tracker, lines, advance: (ms: number) => (t += ms) };
}

describe('activity tracker', () => {
  it('computes the average rate and the seconds left', () => {
    expect(rateAndEta(0, 100, 1000)).toEqual({ rate: null, etaS: null });
    expect(rateAndEta(25, 100, 5_000)).toEqual({ rate: 5, etaS: 15 });
    expect(rateAndEta(25, null, 5_000)).toEqual({ rate: 5, etaS: null });
    expect(rateAndEta(120, 100, 1_000).etaS).toBe(0);
  });

  it('lists a running activity with its figures, then how it ended', () => {
    const { tracker, advance } = harness();
    const fetch = tracker.begin('model-fetch', 'model m', { unit: 'bytes' });
    advance(2_000);
    fetch.update(4_000_000, 10_000_000);
    const [running] = tracker.list();
    expect(running).toMatchObject({
      id: fetch.id,
      kind: 'model-fetch',
      state: 'running',
      done: 4_000_000,
      total: 10_000_000,
      rate: 2_000_000,
      etaS: 3,
      result: null,
    });
    expect(tracker.running('model-fetch', 'model m')?.id).toBe(fetch.id);
    advance(3_000);
    fetch.finish('fetched 10000000 bytes, sha256 ok', 10_000_000);
    fetch.update(1); // after the end: ignored
    expect(tracker.list()[0]).toMatchObject({ state: 'done', done: 10_000_000, etaS: 0 });
    expect(tracker.running('model-fetch')).toBeUndefined();
    advance(61_000);
    expect(tracker.list()).toEqual([]); // a finished one is dropped after keepFinishedMs
  });

  it('logs progress at most every 10 s, with rate and eta, and once at the end', () => {
    const { tracker, lines, advance } = harness();
    const drain = tracker.begin('outbox-drain', 'receipts outbox', { unit: 'receipts', total: 1000 });
    for (let i = 1; i <= 100; i++) {
      advance(250); // 25 s of updates, four a second
      drain.update(i * 10);
    }
    const progress = lines.filter(
      (l) => l.activity === drain.id && l.done !== undefined && l.msg !== undefined,
    );
    const inProgress = progress.filter((l) => String(l.msg).endsWith('in progress'));
    expect(inProgress).toHaveLength(2); // at 10 s and 20 s
    expect(inProgress[0]).toMatchObject({ done: 400, total: 1000, unit: 'receipts', rate: 40, etaS: 15 });
    drain.fail('the agent stopped');
    expect(lines.at(-1)).toMatchObject({ msg: 'receipts outbox failed: the agent stopped', done: 1000 });
    expect(tracker.list()[0]).toMatchObject({ state: 'failed', result: 'the agent stopped' });
  });

  it('lists running activities before finished ones, ids unique', () => {
    const { tracker } = harness();
    const a = tracker.begin('outbox-drain', 'receipts outbox', { unit: 'receipts', total: 5 });
    const b = tracker.begin('model-fetch', 'model m', { unit: 'bytes' });
    a.finish('sent 5 receipts');
    expect(tracker.list().map((x) => x.id)).toEqual([b.id, a.id]);
    expect(a.id).not.toBe(b.id);
  });
});

describe('activity line', () => {
  const base = {
    id: 'model-fetch-1',
    kind: 'model-fetch' as const,
    label: 'model vibration-ae',
    state: 'running' as const,
    unit: 'bytes' as const,
    startedAtMs: 0,
    updatedAtMs: 2_000,
    result: null,
  };

  it('draws a bar, the percentage, the figures, the rate and the time left', () => {
    const text = activityText({ ...base, done: 3_200_000, total: 7_100_000, rate: 1_600_000, etaS: 3 });
    expect(text).toBe('model vibration-ae [#########...........] 45% 3.2/7.1 MB 1.6 MB/s 3 s left');
  });

  it('has no bar without a total, and counts receipts as receipts', () => {
    expect(activityText({ ...base, done: 1_000_000, total: null, rate: null, etaS: null })).toBe(
      'model vibration-ae 1.0 MB',
    );
    const drain = {
      ...base,
      kind: 'outbox-drain' as const,
      label: 'receipts outbox',
      unit: 'receipts' as const,
    };
    expect(activityText({ ...drain, done: 50, total: 200, rate: 25, etaS: 6 })).toBe(
      'receipts outbox [#####...............] 25% 50/200 receipts 25/s 6 s left',
    );
    expect(
      activityText({
        ...drain,
        state: 'done',
        done: 200,
        total: 200,
        rate: 25,
        etaS: 0,
        result: 'sent 200 receipts',
      }),
    ).toBe('receipts outbox done: sent 200 receipts');
  });
});

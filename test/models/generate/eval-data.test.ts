import { describe, expect, it } from 'vitest';
import {
  cutWindows,
  EVAL_FAULT_AT,
  EVAL_READINGS,
  EVAL_STREAMS_PER_FAULT,
  EvalDataError,
  evalData,
  evalDataText,
  parseEvalData,
  streamReadings,
  windowStarts,
} from '../../../models/generate/eval-data.js';
import { EXAMPLES, type ExampleSpec, streamSeed } from '../../../models/generate/examples.js';
import { collectWindows, createSensorStream } from '../../../models/generate/synthetic.js';

const spec = EXAMPLES.find((s) => s.id === 'pressure-ae') as ExampleSpec;

describe('windowStarts and cutWindows', () => {
  it('cut the windows collectWindows cuts, from the first start at or after `first`', () => {
    expect(windowStarts(44, 32, 4)).toEqual([0, 4, 8, 12]);
    expect(windowStarts(44, 32, 4, 6)).toEqual([8, 12]);
    expect(windowStarts(31, 32, 4)).toEqual([]);
    const { values, faulty } = streamReadings('vibration', 3, 60, { type: 'growth', startAt: 40 });
    const stream = { fault: 'growth' as const, seed: 3, values: Array.from(values), faulty: faulty.join('') };
    const mine = cutWindows(stream, windowStarts(60, 8, 4), 8);
    const theirs = collectWindows(
      createSensorStream({ kind: 'vibration', seed: 3, fault: { type: 'growth', startAt: 40 } }),
      14,
      8,
      4,
    );
    expect(mine.data).toEqual(theirs.data);
    expect(mine.labels).toEqual(theirs.labels);
  });
});

describe('evalData', () => {
  it('holds EVAL_STREAMS_PER_FAULT streams per fault from distinct eval seeds, faulty only after the fault starts', () => {
    const data = evalData(spec);
    expect(data.header).toMatchObject({ model: 'pressure-ae', kind: 'pressure', window: 32, stride: 4 });
    expect(data.streams.map((s) => s.fault)).toEqual(
      spec.detects.flatMap((f) => Array(EVAL_STREAMS_PER_FAULT).fill(f)),
    );
    expect(data.streams.map((s) => s.seed)).toEqual(data.streams.map((_, i) => streamSeed(spec, 'eval', i)));
    for (const s of data.streams) {
      expect(s.values).toHaveLength(EVAL_READINGS);
      expect(s.faulty.indexOf('1')).toBeGreaterThanOrEqual(EVAL_FAULT_AT);
      expect(s.faulty.slice(EVAL_FAULT_AT)).toMatch(/1/);
    }
    // The readings are the generator's own, to five significant digits.
    const first = data.streams[0];
    const raw = streamReadings('pressure', first?.seed ?? 0, 10, { type: 'leak', startAt: EVAL_FAULT_AT });
    expect(first?.values.slice(0, 10)).toEqual(Array.from(raw.values, (v) => Number(v.toPrecision(5))));
  });

  it('reads back what it writes', () => {
    const data = evalData(spec);
    expect(parseEvalData(evalDataText(data), 'x.jsonl')).toEqual(data);
  });

  it('says which line of which file is wrong', () => {
    const lines = evalDataText(evalData(spec)).trimEnd().split('\n');
    const bad = (edit: (ls: string[]) => string[]) => () =>
      parseEvalData(edit([...lines]).join('\n'), 'e.jsonl');
    expect(bad((ls) => ['{', ...ls.slice(1)])).toThrow(EvalDataError);
    expect(bad((ls) => ['{', ...ls.slice(1)])).toThrow(/^e\.jsonl:1: not JSON/);
    expect(bad((ls) => ['{"format":"csv"}', ...ls.slice(1)])).toThrow(/e\.jsonl:1: expected a header/);
    expect(bad((ls) => ls.slice(0, -1))).toThrow(/promises 6 streams, the file holds 5/);
    const short = JSON.stringify({ ...JSON.parse(lines[1] as string), faulty: '01' });
    expect(bad((ls) => [ls[0] as string, short, ...ls.slice(2)])).toThrow(
      /e\.jsonl:2: "faulty" must be a string of 0 and 1, one per value \(2048\)/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  CalibrationError,
  type CalibrationRule,
  learn,
  learnNormalisation,
  ProbationWindows,
  thresholdOf,
} from '../../../agent/calibrate/calibrator.js';
import { parseCalibrationCommand } from '../../../agent/calibrate/command.js';

const RULE: CalibrationRule = { windows: 4, quantile: 0.5, margin: 2, normalise: true, threshold: true };

function probationOf(rows: number[][]): ProbationWindows {
  const p = new ProbationWindows(rows.length, rows[0]?.length ?? 0);
  for (const r of rows) p.add(Float32Array.from(r));
  return p;
}

/** A stand-in model whose score of a row is its first normalised value; records each call. */
function firstValueScorer(calls: number[]) {
  return async (input: Float32Array, rows: number) => {
    calls.push(rows);
    const size = input.length / rows;
    return Array.from({ length: rows }, (_, r) => input[r * size] as number);
  };
}

describe('ProbationWindows', () => {
  it('keeps at most `of` windows in one preallocated buffer, ignoring the rest', () => {
    const p = new ProbationWindows(2, 3);
    expect(p.add(Float32Array.of(1, 2, 3))).toBe(1);
    expect(p.full).toBe(false);
    expect(p.add(Float32Array.of(4, 5, 6))).toBe(2);
    expect(p.add(Float32Array.of(7, 8, 9))).toBe(2);
    expect(p.full).toBe(true);
    expect(Array.from(p.rows())).toEqual([1, 2, 3, 4, 5, 6]);
    p.reset();
    expect(p.done).toBe(0);
    expect(p.rows().length).toBe(0);
  });

  it('refuses a window of the wrong size', () => {
    expect(() => new ProbationWindows(2, 3).add(Float32Array.of(1, 2))).toThrow(/2 samples; expected 3/);
  });
});

describe('learning a calibration', () => {
  it('learns mean and population std over every reading of every window', () => {
    const n = learnNormalisation('p', Float32Array.of(1, 3, 5, 7));
    expect(n.mean).toBe(4);
    expect(n.std).toBeCloseTo(Math.sqrt(5), 12);
  });

  it('refuses readings that never vary, saying what to check', () => {
    expect(() => learnNormalisation('vib', Float32Array.of(2, 2, 2))).toThrow(CalibrationError);
    expect(() => learnNormalisation('vib', Float32Array.of(2, 2, 2))).toThrow(
      /pipeline "vib": calibration failed: .*did not vary.*recalibrate/,
    );
  });

  it('sets the threshold to margin × the quantile of the scores, six significant digits', () => {
    expect(thresholdOf([1, 2, 3, 4, 5], 0.5, 1.25)).toBe(3.75);
    expect(thresholdOf([0, 1], 0.995, 1)).toBe(0.995);
    expect(thresholdOf([1 / 3], 0.5, 1)).toBe(0.333333);
  });

  it('scores the windows normalised with the learned statistics, in batches of at most maxBatch', async () => {
    // Readings 10 + 2z: the learned normalisation gives z back, so scores are the first z of each row.
    const z = [
      [-1, 1],
      [1, -1],
      [-1, 1],
      [1, -1],
    ];
    const calls: number[] = [];
    const learned = await learn('p', probationOf(z.map((r) => r.map((v) => 10 + 2 * v))), RULE, {
      current: { mean: 0, std: 1 },
      score: firstValueScorer(calls),
      maxBatch: 3,
    });
    expect(learned.normalise).toEqual({ mean: 10, std: 2 });
    expect(calls).toEqual([3, 1]);
    expect(learned.threshold).toBe(0); // median of [-1, 1, -1, 1] is 0, × 2
    expect(learned.windows).toBe(4);
  });

  it('learns only what the rule asks for, scoring with the normalisation in force otherwise', async () => {
    const p = probationOf([[5], [7], [9], [11]]);
    const calls: number[] = [];
    const onlyThreshold = await learn(
      'p',
      p,
      { ...RULE, normalise: false },
      {
        current: { mean: 5, std: 2 },
        score: firstValueScorer(calls),
        maxBatch: 64,
      },
    );
    expect(onlyThreshold.normalise).toBeUndefined();
    expect(onlyThreshold.threshold).toBe(3); // median of 0, 1, 2, 3 is 1.5, × 2
    const onlyNormalise = await learn(
      'p',
      p,
      { ...RULE, threshold: false },
      {
        current: { mean: 0, std: 1 },
        score: firstValueScorer(calls),
        maxBatch: 64,
      },
    );
    expect(onlyNormalise.threshold).toBeUndefined();
    expect(onlyNormalise.normalise?.mean).toBe(8);
    expect(calls).toEqual([4]); // no model call when the threshold is not learned
  });

  it('fails when the model gives most windows no finite score', async () => {
    const p = probationOf([[1], [2], [3], [4]]);
    await expect(
      learn('p', p, RULE, {
        current: { mean: 0, std: 1 },
        score: async (_i, rows) => new Array(rows).fill(Number.NaN),
        maxBatch: 8,
      }),
    ).rejects.toThrow(/4 of 4 windows no finite score/);
  });
});

describe('the calibration command', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('takes an empty payload or {"command":"recalibrate"}, optionally for one node', () => {
    expect(parseCalibrationCommand(bytes(''))).toEqual({ ok: true, command: 'recalibrate' });
    expect(parseCalibrationCommand(bytes('{"command":"recalibrate"}'))).toEqual({
      ok: true,
      command: 'recalibrate',
    });
    expect(parseCalibrationCommand(bytes('{"command":"recalibrate","node":"12D3"}'))).toEqual({
      ok: true,
      command: 'recalibrate',
      node: '12D3',
    });
  });

  it('refuses anything else, saying what it expected', () => {
    for (const text of ['nope', '[]', '{"command":"reset"}', '{"command":"recalibrate","node":3}']) {
      const c = parseCalibrationCommand(bytes(text));
      expect(c.ok).toBe(false);
      if (!c.ok) expect(c.why).toMatch(/expected an empty payload or \{"command":"recalibrate"\}/);
    }
  });
});

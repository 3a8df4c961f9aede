import { describe, expect, it } from 'vitest';
import {
  checkPostprocessSpec,
  type ModelOutputs,
  type OutputTensor,
  postprocess,
  postprocessRow,
} from '../../../agent/infer/postprocess.js';

const t = (data: number[], dims: number[]): OutputTensor => ({ data: Float32Array.from(data), dims });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('postprocess: anomaly score', () => {
  it('reads the score and compares it with the threshold (strictly greater is an anomaly)', () => {
    const spec = { score: 'err', threshold: 0.5 };
    expect(postprocess({ err: t([0.75], [1, 1]) }, spec)).toEqual({ score: 0.75, anomaly: true });
    expect(postprocess({ err: t([0.25], [1, 1]) }, spec)).toEqual({ score: 0.25, anomaly: false });
    expect(postprocess({ err: t([0.5], [1]) }, spec)).toEqual({ score: 0.5, anomaly: false });
  });

  it('gives the score alone when there is no threshold', () => {
    expect(postprocess({ err: t([2], [1]) }, { score: 'err' })).toEqual({ score: 2 });
  });

  it('accepts scalar, [N] and [N, 1] score outputs', () => {
    expect(postprocess({ s: t([3], []) }, { score: 's' }).score).toBe(3);
    expect(postprocessRow({ s: t([1, 2, 3], [3]) }, { score: 's' }, 2).score).toBe(3);
    expect(postprocessRow({ s: t([1, 2, 3], [3, 1]) }, { score: 's' }, 1).score).toBe(2);
  });

  it('reads int64 outputs', () => {
    const out: ModelOutputs = { s: { data: BigInt64Array.from([5n, 9n]), dims: [2] } };
    expect(postprocessRow(out, { score: 's', threshold: 6 }, 1)).toEqual({ score: 9, anomaly: true });
  });

  it('never calls a NaN score an anomaly, and reports it as NaN', () => {
    const r = postprocess({ s: t([Number.NaN], [1]) }, { score: 's', threshold: 0 });
    expect(r.anomaly).toBe(false);
    expect(r.score).toBeNaN();
  });

  it('refuses a score output with several values per row', () => {
    expect(codeOf(() => postprocess({ s: t([1, 2], [1, 2]) }, { score: 's' }))).toBe(
      'POSTPROCESS_OUTPUT_SHAPE',
    );
  });

  it('names the missing output and the available ones', () => {
    const outputs = { reconstruction: t([0], [1]), logits: t([0], [1]) };
    expect(() => postprocess(outputs, { score: 'score' })).toThrow(
      'the score output "score" is not among the model\'s outputs (available: reconstruction, logits)',
    );
    expect(codeOf(() => postprocess(outputs, { score: 'score' }))).toBe('POSTPROCESS_OUTPUT_MISSING');
    expect(() => postprocess({}, { labelOutput: 'p' })).toThrow('the model returned no outputs');
    expect(codeOf(() => postprocess(outputs, { score: 'constructor' }))).toBe('POSTPROCESS_OUTPUT_MISSING');
  });
});

describe('postprocess: labels', () => {
  const labels = ['normal', 'bearing', 'imbalance'];

  it('takes the argmax of probabilities and reports the probability itself', () => {
    const r = postprocess({ p: t([0.1, 0.7, 0.2], [1, 3]) }, { labels, labelOutput: 'p' });
    expect(r).toMatchObject({ label: 'bearing', labelIndex: 1 });
    expect(r.confidence).toBeCloseTo(0.7, 6);
  });

  it('applies softmax to logits (a row that does not sum to 1)', () => {
    const logits = [1, 3, 2];
    const r = postprocess({ p: t(logits, [1, 3]) }, { labels, labelOutput: 'p' });
    const expected = Math.exp(3) / (Math.exp(1) + Math.exp(3) + Math.exp(2));
    expect(r.label).toBe('bearing');
    expect(r.confidence).toBeCloseTo(expected, 6);
  });

  it('treats values in [0, 1] that do not sum to 1 as logits, and negative values too', () => {
    const r = postprocess({ p: t([0.2, 0.3, 0.1], [1, 3]) }, { labels, labelOutput: 'p' });
    expect(r.confidence).toBeCloseTo(Math.exp(0.3) / (Math.exp(0.2) + Math.exp(0.3) + Math.exp(0.1)), 6);
    const neg = postprocess({ p: t([-5, -1, -3], [1, 3]) }, { labels, labelOutput: 'p' });
    expect(neg.label).toBe('bearing');
  });

  it('stays finite for huge logits (softmax is shifted by the maximum)', () => {
    const r = postprocess({ p: t([1000, 990, -1000], [1, 3]) }, { labels, labelOutput: 'p' });
    expect(r.label).toBe('normal');
    expect(r.confidence).toBeCloseTo(1 / (1 + Math.exp(-10)), 6);
  });

  it('picks the first of equal maxima', () => {
    expect(postprocess({ p: t([0.4, 0.4, 0.2], [1, 3]) }, { labels, labelOutput: 'p' }).label).toBe('normal');
  });

  it('never lets NaN win the argmax; a row of only NaN gives index 0 and NaN confidence', () => {
    const r = postprocess({ p: t([Number.NaN, 2, 1], [1, 3]) }, { labels, labelOutput: 'p' });
    expect(r.label).toBe('bearing');
    expect(r.confidence).toBeNaN();
    const all = postprocess(
      { p: t([Number.NaN, Number.NaN, Number.NaN], [1, 3]) },
      { labels, labelOutput: 'p' },
    );
    expect(all.labelIndex).toBe(0);
    expect(all.confidence).toBeNaN();
  });

  it('reads each batch row separately', () => {
    const out = { p: t([0.9, 0.05, 0.05, 0.1, 0.1, 0.8], [2, 3]) };
    expect(postprocessRow(out, { labels, labelOutput: 'p' }, 0).label).toBe('normal');
    expect(postprocessRow(out, { labels, labelOutput: 'p' }, 1).label).toBe('imbalance');
    expect(postprocessRow(out, { labels, labelOutput: 'p' }, 1).confidence).toBeCloseTo(0.8, 6);
  });

  it('reads a 1-D float label output as one unbatched row of class scores', () => {
    expect(postprocess({ p: t([0.1, 0.2, 0.7], [3]) }, { labels, labelOutput: 'p' }).label).toBe('imbalance');
  });

  it('reads an int64 label output as one class index per row, without a confidence', () => {
    const out: ModelOutputs = { label: { data: BigInt64Array.from([2n, 0n]), dims: [2] } };
    expect(postprocessRow(out, { labels, labelOutput: 'label' }, 0)).toEqual({
      label: 'imbalance',
      labelIndex: 2,
    });
    expect(postprocessRow(out, { labels, labelOutput: 'label' }, 1)).toEqual({
      label: 'normal',
      labelIndex: 0,
    });
  });

  it('gives the class index without labels', () => {
    expect(postprocess({ p: t([0.2, 0.8], [1, 2]) }, { labelOutput: 'p' })).toEqual({
      labelIndex: 1,
      confidence: 0.800000011920929,
    });
  });

  it('refuses labels that do not match the number of classes', () => {
    expect(() => postprocess({ p: t([0.5, 0.5], [1, 2]) }, { labels, labelOutput: 'p' })).toThrow(
      'has 2 classes but 3 labels are configured',
    );
    const out: ModelOutputs = { label: { data: BigInt64Array.from([5n]), dims: [1] } };
    expect(() => postprocess(out, { labels, labelOutput: 'label' })).toThrow(
      'class index 5 but only 3 labels',
    );
  });

  it('refuses a single float per row as a class index (use score + threshold instead)', () => {
    expect(() => postprocess({ p: t([0.93], [1, 1]) }, { labels, labelOutput: 'p' })).toThrow(
      'use score and threshold instead',
    );
  });

  it('combines a score and a label from one run', () => {
    const outputs = { s: t([0.9], [1, 1]), p: t([0.1, 0.1, 0.8], [1, 3]) };
    const r = postprocess(outputs, { score: 's', threshold: 0.5, labels, labelOutput: 'p' });
    expect(r).toMatchObject({ anomaly: true, label: 'imbalance', labelIndex: 2 });
    expect(r.score).toBeCloseTo(0.9, 6);
  });

  it('returns nothing for an empty spec', () => {
    expect(postprocess({ s: t([1], [1]) }, {})).toEqual({});
  });
});

describe('postprocess: shapes, rows and specs', () => {
  it('refuses a row outside the batch', () => {
    const out = { s: t([1, 2], [2, 1]) };
    expect(codeOf(() => postprocessRow(out, { score: 's' }, 2))).toBe('POSTPROCESS_ROW_OUT_OF_RANGE');
    expect(codeOf(() => postprocessRow(out, { score: 's' }, -1))).toBe('POSTPROCESS_ROW_OUT_OF_RANGE');
    expect(codeOf(() => postprocessRow(out, { score: 's' }, 0.5))).toBe('POSTPROCESS_ROW_OUT_OF_RANGE');
    expect(() => postprocessRow(out, { score: 's' }, 2)).toThrow(
      'row 2 asked of output "s", which has 2 row(s)',
    );
  });

  it('refuses dims that disagree with the data', () => {
    expect(() => postprocess({ s: t([1, 2, 3], [1, 2]) }, { score: 's' })).toThrow(
      'has dims [1, 2] (2 values) but holds 3 values',
    );
  });

  it('refuses an output with empty rows', () => {
    expect(codeOf(() => postprocess({ p: t([], [1, 0]) }, { labelOutput: 'p' }))).toBe(
      'POSTPROCESS_OUTPUT_SHAPE',
    );
    expect(codeOf(() => postprocess({ p: t([], [0, 3]) }, { labelOutput: 'p' }))).toBe(
      'POSTPROCESS_ROW_OUT_OF_RANGE',
    );
  });

  it.each<[object, string]>([
    [{ threshold: 1 }, 'threshold is set but score'],
    [{ score: 's', threshold: Number.NaN }, 'threshold is NaN'],
    [{ labels: ['a'] }, 'labels are set but labelOutput'],
  ])('refuses the spec %o', (spec, message) => {
    expect(() => checkPostprocessSpec(spec)).toThrow(message);
    expect(codeOf(() => postprocess({ s: t([1], [1]) }, spec))).toBe('POSTPROCESS_SPEC_INVALID');
  });
});

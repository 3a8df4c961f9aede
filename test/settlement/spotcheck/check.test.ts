import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputOrder } from '../../../protocol/tensors.js';
import {
  type CheckVerdict,
  checkReveal,
  DEFAULT_TOLERANCE,
  withinTolerance,
} from '../../../settlement/spotcheck/check.js';
import { ModelRegistry } from '../../../settlement/spotcheck/registry.js';
import { EXAMPLE_MANIFESTS, type HonestJob, honestJob, recommit } from '../../helpers/spotcheck.js';

const [VIBRATION, TEMPERATURE] = EXAMPLE_MANIFESTS as [string, string];
const ROWS = 4;

let registry: ModelRegistry;
let job: HonestJob;

beforeAll(async () => {
  ({ registry } = await ModelRegistry.fromManifests(EXAMPLE_MANIFESTS, {
    logger: pino({ level: 'silent' }),
  }));
  job = await honestJob(VIBRATION, ROWS);
});

afterAll(async () => {
  await registry.close();
});

const check = (j: HonestJob, tolerance = DEFAULT_TOLERANCE) =>
  checkReveal(j.receipt, j.reveal, registry, tolerance);

function reasonOf(verdict: CheckVerdict): string {
  if (verdict.ok) return expect.fail('expected the check to fail');
  return verdict.reason;
}

/** A copy of `bytes` with float32 element `index` changed by `delta`. */
function nudged(bytes: Uint8Array, index: number, delta: number): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  view.setFloat32(index * 4, view.getFloat32(index * 4, true) + delta, true);
  return out;
}

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] = (out[at] ?? 0) ^ 1;
  return out;
}

describe('checkReveal', () => {
  it('passes an honest reveal, computed in another session, for each example model', async () => {
    expect(await check(job)).toEqual({ ok: true });
    expect(await check(await honestJob(TEMPERATURE, 1, 7))).toEqual({ ok: true });
  });

  it('fails a reveal whose input is not the one the receipt committed to', async () => {
    const reveal = { ...job.reveal, input: flipped(job.reveal.input, 10) };
    const reason = reasonOf(await checkReveal(job.receipt, reveal, registry, DEFAULT_TOLERANCE));
    expect(reason).toMatch(
      /^the revealed input \(512 bytes\) has sha256 [0-9a-f]{64}, but the receipt committed to inputDigest/,
    );
  });

  it('fails a reveal whose output is not the one the receipt committed to', async () => {
    const reveal = { ...job.reveal, output: flipped(job.reveal.output, 0) };
    const reason = reasonOf(await checkReveal(job.receipt, reveal, registry, DEFAULT_TOLERANCE));
    expect(reason).toMatch(/^the revealed output \(\d+ bytes\) has sha256 .* outputDigest/);
  });

  it('fails a reveal for another receipt', async () => {
    const other = await honestJob(VIBRATION, ROWS, 2);
    const reason = reasonOf(await checkReveal(job.receipt, other.reveal, registry, DEFAULT_TOLERANCE));
    expect(reason).toMatch(/^the reveal is for receipt [0-9a-f]{64}, not for receipt [0-9a-f]{64}$/);
  });

  it('fails an input of the wrong length for sampleCount × window', async () => {
    const short = recommit(job, { input: job.reveal.input.subarray(4) });
    expect(reasonOf(await check(short))).toBe(
      'the revealed input is 508 bytes, but 4 sample(s) of model "vibration-ae" (window 32, float32) take 512 bytes',
    );
    const moreSamples = recommit(job, {}, { sampleCount: ROWS + 1 });
    expect(reasonOf(await check(moreSamples))).toMatch(/5 sample\(s\) .* take 640 bytes/);
  });

  it('fails a receipt for a model the service does not know', async () => {
    const unknown = recommit(job, {}, { modelSha256: new Uint8Array(32).fill(0xab) });
    expect(reasonOf(await check(unknown))).toBe(
      `the receipt names model sha256 ${'ab'.repeat(32)}, which is not registered with the service`,
    );
  });

  it('fails an output off by more than the tolerance, naming output, element and values', async () => {
    // Outputs are concatenated in name order: "reconstruction" (4 × 32 floats), then "score".
    expect(outputOrder(['score', 'reconstruction'])).toEqual(['reconstruction', 'score']);
    const liar = recommit(job, { output: nudged(job.reveal.output, 37, 0.05) });
    const reason = reasonOf(await check(liar));
    expect(reason).toMatch(
      /^output "reconstruction" element 37 is -?[\d.e-]+ in the reveal, but the registered model computes -?[\d.e-]+ on the revealed input \(\|difference\| 0\.0[45]\d* > allowed 0\.000\d+\)$/,
    );
    const scoreLiar = recommit(job, { output: nudged(job.reveal.output, ROWS * 32 + 2, 1) });
    expect(reasonOf(await check(scoreLiar))).toMatch(/^output "score" element 2 /);
  });

  it('passes an output within the tolerance (another CPU or runtime build)', async () => {
    const close = recommit(job, { output: nudged(job.reveal.output, 3, 2e-5) });
    expect(await check(close)).toEqual({ ok: true });
    expect(reasonOf(await check(close, { abs: 0, rel: 0 }))).toMatch(/element 3/);
  });

  it('fails an output that is the model run on another input', async () => {
    const other = await honestJob(VIBRATION, ROWS, 3);
    const swapped = recommit(job, { output: other.reveal.output });
    expect(reasonOf(await check(swapped))).toMatch(/^output "reconstruction" element 0 /);
  });

  it('fails an output of the wrong length', async () => {
    const truncated = recommit(job, { output: job.reveal.output.subarray(0, job.reveal.output.length - 4) });
    expect(reasonOf(await check(truncated))).toMatch(
      /^the revealed output is 524 bytes, but the model's outputs on the revealed input take 528 bytes \("reconstruction" 512, "score" 16\)$/,
    );
  });
});

describe('withinTolerance', () => {
  const tol = { abs: 1e-4, rel: 1e-3 };

  it('allows abs + rel × |computed|', () => {
    expect(withinTolerance(1000.5, 1000, tol)).toBe(true); // allowed 1.0001
    expect(withinTolerance(1001.2, 1000, tol)).toBe(false);
    expect(withinTolerance(0.00009, 0, tol)).toBe(true);
    expect(withinTolerance(0.0002, 0, tol)).toBe(false);
  });

  it('matches NaN only with NaN and an infinity only with itself', () => {
    expect(withinTolerance(Number.NaN, Number.NaN, tol)).toBe(true);
    expect(withinTolerance(0, Number.NaN, tol)).toBe(false);
    expect(withinTolerance(Number.NaN, 0, tol)).toBe(false);
    expect(withinTolerance(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, tol)).toBe(true);
    expect(withinTolerance(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, tol)).toBe(false);
    expect(withinTolerance(Number.POSITIVE_INFINITY, 1e30, tol)).toBe(false);
  });
});

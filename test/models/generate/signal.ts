/** Small signal measures for the synthetic-sensor tests. */
import type { Reading, SensorStream } from '../../../models/generate/synthetic.js';

export const take = (s: SensorStream, n: number): Reading[] =>
  Array.from({ length: n }, () => s.nextReading());
export const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length);
export const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

/** Power of `xs` at `freq` cycles per sample (a single DFT bin). */
export function power(xs: number[], freq: number): number {
  let re = 0;
  let im = 0;
  xs.forEach((x, t) => {
    re += x * Math.cos(2 * Math.PI * freq * t);
    im -= x * Math.sin(2 * Math.PI * freq * t);
  });
  return (re * re + im * im) / xs.length;
}

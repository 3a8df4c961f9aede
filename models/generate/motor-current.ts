/**
 * Phase current of an induction motor on the mains, sampled 16 times per mains cycle: the
 * fundamental with small 3rd and 5th harmonics, a load swing and sensor noise. A 32-sample
 * window holds two mains cycles.
 */
import type { Rng } from '../prng.js';
import type { Fault, Sampler } from './synthetic.js';

/**
 * overload: the motor draws up to 1.7× its normal current; dropout: a loose or chattering
 * contactor cuts the phase for one to three cycles at a time; harmonics: a failing drive or
 * winding adds strong 5th and 7th harmonics at about the same RMS current.
 */
export type CurrentFaultType = 'overload' | 'dropout' | 'harmonics';

const SAMPLES_PER_CYCLE = 16;

export function currentModel(rng: Rng, fault: Fault<CurrentFaultType> | undefined): Sampler {
  // Peak current in amperes; the grid frequency wanders by a fraction of a percent.
  const amplitude = 10 * rng.uniform(0.95, 1.05);
  const f = (1 / SAMPLES_PER_CYCLE) * rng.uniform(0.998, 1.002);
  const p1 = rng.uniform(0, 2 * Math.PI);
  // Iron saturation shapes the healthy harmonics, so their size and phase (relative to the
  // fundamental) vary little from one motor of a type to the next.
  const h3 = rng.uniform(0.03, 0.05);
  const p3 = rng.uniform(-0.3, 0.3);
  const h5 = rng.uniform(0.015, 0.025);
  const p5 = rng.uniform(-0.3, 0.3);
  const pLoad = rng.uniform(0, 2 * Math.PI);
  const severity = fault?.severity ?? 1;
  let dropoutLeft = 0;
  return (t) => {
    // The driven load swings ±8% about every 1500 readings (two seconds at 50 Hz), so each
    // training stream sees the whole swing.
    const load = 1 + 0.08 * Math.sin((2 * Math.PI * t) / 1500 + pLoad);
    const theta = 2 * Math.PI * f * t + p1;
    const wave = Math.sin(theta) + h3 * Math.sin(3 * theta + p3) + h5 * Math.sin(5 * theta + p5);
    const noise = 0.02 * amplitude * rng.normal();
    const healthy = amplitude * load * wave + noise;
    const active = fault !== undefined && t >= fault.startAt;
    if (!active) return { value: healthy, faulty: false };
    const since = t - fault.startAt;
    switch (fault.type) {
      case 'overload': {
        // A jammed load or a failing bearing: the current climbs over ~200 samples.
        const growth = 1 + 0.7 * severity * Math.min(1, since / 200);
        return { value: amplitude * load * growth * wave + noise, faulty: true };
      }
      case 'dropout': {
        if (dropoutLeft === 0 && rng.next() < 0.01) dropoutLeft = SAMPLES_PER_CYCLE * (1 + rng.int(3));
        if (dropoutLeft === 0) return { value: healthy, faulty: false };
        dropoutLeft--;
        // The phase is open: only the sensor's own noise is left.
        return { value: noise, faulty: true };
      }
      case 'harmonics': {
        // Fixed phases, not drawn: a faulty stream must match the healthy one before the fault.
        const ramp = severity * Math.min(1, since / 100);
        const distortion = 0.2 * ramp * Math.sin(5 * theta) + 0.12 * ramp * Math.sin(7 * theta + 1);
        return { value: amplitude * load * (wave + distortion) + noise, faulty: true };
      }
    }
  };
}

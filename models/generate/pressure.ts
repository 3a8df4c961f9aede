/**
 * Pressure in a pneumatic cylinder that a machine cycles: a valve pressurises it towards the
 * supply pressure (about 6 bar), holds, then vents it to near atmospheric, once about every 48
 * readings. A 32-sample window is longer than either half of the cycle, so it always holds a
 * pressurise or a vent edge.
 */
import type { Rng } from '../prng.js';
import type { Fault, Sampler } from './synthetic.js';

/**
 * leak: the cylinder no longer holds pressure, sagging by up to 30% before it vents; surge:
 * water-hammer-like spikes of 2 to 4 bar; stuck: the transmitter repeats its last good value.
 */
export type PressureFaultType = 'leak' | 'surge' | 'stuck';

/** Gauge pressure of a vented cylinder, in bar. */
const VENTED = 0.3;
/** Time constant of filling and venting, in readings. */
const TAU = 3;

export function pressureModel(rng: Rng, fault: Fault<PressureFaultType> | undefined): Sampler {
  const period = 48 * rng.uniform(0.97, 1.03);
  const offset = rng.uniform(0, period);
  const supplyLevel = 6 * rng.uniform(0.98, 1.02);
  const pSupply = rng.uniform(0, 2 * Math.PI);
  const severity = fault?.severity ?? 1;
  const half = period / 2;
  let last = VENTED;
  let stuckAt: number | undefined;
  return (t) => {
    const supply = supplyLevel + 0.1 * Math.sin((2 * Math.PI * t) / 4000 + pSupply);
    const active = fault !== undefined && t >= fault.startAt;
    const since = active ? t - fault.startAt : 0;
    // A leak develops over ~200 readings; the pressure sags linearly while the valve holds.
    const sag = active && fault.type === 'leak' ? 0.3 * severity * Math.min(1, since / 200) : 0;
    const filled = (u: number) => VENTED + (supply - VENTED) * (1 - Math.exp(-u / TAU) - (sag * u) / half);
    const u = (t + offset) % period;
    const clean = u < half ? filled(u) : VENTED + (filled(half) - VENTED) * Math.exp(-(u - half) / TAU);
    const healthy = clean + 0.03 * rng.normal();
    if (!active) {
      last = healthy;
      return { value: healthy, faulty: false };
    }
    switch (fault.type) {
      case 'leak':
        return { value: healthy, faulty: true };
      case 'surge':
        if (rng.next() >= 0.015) return { value: healthy, faulty: false };
        return { value: healthy + severity * rng.uniform(2, 4), faulty: true };
      case 'stuck':
        stuckAt ??= last;
        return { value: stuckAt, faulty: true };
    }
  };
}

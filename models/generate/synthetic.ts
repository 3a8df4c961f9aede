/**
 * Deterministic synthetic sensor streams with injectable faults: training data for the example
 * models, test data for their detection tests, and live readings for the demo simulator.
 */
import { SensorStreamOptionsError } from '../errors.js';
import { createRng, type Rng } from '../prng.js';
import { type CurrentFaultType, currentModel } from './motor-current.js';
import { type PressureFaultType, pressureModel } from './pressure.js';

export type { CurrentFaultType } from './motor-current.js';
export type { PressureFaultType } from './pressure.js';

export type SensorKind = 'vibration' | 'temperature' | 'current' | 'pressure';
export type VibrationFaultType = 'spike' | 'growth' | 'bearing';
export type TemperatureFaultType = 'step' | 'overheat' | 'flatline';
export type FaultType = VibrationFaultType | TemperatureFaultType | CurrentFaultType | PressureFaultType;

export const FAULT_TYPES: { readonly [K in SensorKind]: readonly FaultType[] } = {
  vibration: ['spike', 'growth', 'bearing'],
  temperature: ['step', 'overheat', 'flatline'],
  current: ['overload', 'dropout', 'harmonics'],
  pressure: ['leak', 'surge', 'stuck'],
};

export interface Fault<T extends FaultType = FaultType> {
  readonly type: T;
  /** Index of the first reading the fault affects. */
  readonly startAt: number;
  /** Scales the fault's effect; 1 is a clearly developed fault. */
  readonly severity?: number;
}

export type SensorStreamOptions =
  | { readonly kind: 'vibration'; readonly seed: number; readonly fault?: Fault<VibrationFaultType> }
  | { readonly kind: 'temperature'; readonly seed: number; readonly fault?: Fault<TemperatureFaultType> }
  | { readonly kind: 'current'; readonly seed: number; readonly fault?: Fault<CurrentFaultType> }
  | { readonly kind: 'pressure'; readonly seed: number; readonly fault?: Fault<PressureFaultType> };

export interface Reading {
  readonly index: number;
  readonly value: number;
  /** True when the injected fault shaped this reading (ground truth for evaluation). */
  readonly faulty: boolean;
}

export interface SensorStream {
  readonly kind: SensorKind;
  /** Index of the next reading. */
  readonly index: number;
  /** The next reading's value (acceleration in g, temperature in °C, current in A or pressure in bar). */
  next(): number;
  nextReading(): Reading;
}

export function createSensorStream(options: SensorStreamOptions): SensorStream {
  const fault = options.fault;
  if (fault !== undefined) {
    if (!FAULT_TYPES[options.kind].includes(fault.type)) {
      throw new SensorStreamOptionsError(
        `fault "${fault.type}" does not apply to ${options.kind} sensors; use one of ${FAULT_TYPES[options.kind].join(', ')}`,
      );
    }
    if (!Number.isInteger(fault.startAt) || fault.startAt < 0) {
      throw new SensorStreamOptionsError(`fault.startAt must be an integer ≥ 0, got ${fault.startAt}`);
    }
  }
  const sample = samplerOf(options, createRng(options.seed));
  let index = 0;
  const nextReading = (): Reading => {
    const { value, faulty } = sample(index);
    return { index: index++, value, faulty };
  };
  return {
    kind: options.kind,
    get index() {
      return index;
    },
    next: () => nextReading().value,
    nextReading,
  };
}

/** The value of reading `t` (called once per reading, in order) and whether the fault shaped it. */
export type Sampler = (t: number) => { value: number; faulty: boolean };

function samplerOf(options: SensorStreamOptions, rng: Rng): Sampler {
  switch (options.kind) {
    case 'vibration':
      return vibrationModel(rng, options.fault);
    case 'temperature':
      return temperatureModel(rng, options.fault);
    case 'current':
      return currentModel(rng, options.fault);
    case 'pressure':
      return pressureModel(rng, options.fault);
  }
}

/**
 * Acceleration of a rotating machine: shaft rate and its second harmonic, a slow load-driven
 * amplitude swing, sensor noise. One shaft turn is about 16 samples, so a 32-sample window
 * holds two turns.
 */
function vibrationModel(rng: Rng, fault: Fault<VibrationFaultType> | undefined): Sampler {
  const f1 = (1 / 16) * rng.uniform(0.97, 1.03);
  const p1 = rng.uniform(0, 2 * Math.PI);
  const p2 = rng.uniform(0, 2 * Math.PI);
  const pLoad = rng.uniform(0, 2 * Math.PI);
  const severity = fault?.severity ?? 1;
  // Bearing defects ring at a frequency unrelated to the shaft rate; 0.31 cycles/sample is well
  // above the harmonics the healthy machine shows.
  const fBearing = 0.31;
  return (t) => {
    const load = 1 + 0.1 * Math.sin((2 * Math.PI * t) / 5000 + pLoad);
    const shaft = Math.sin(2 * Math.PI * f1 * t + p1) + 0.4 * Math.sin(4 * Math.PI * f1 * t + p2);
    const noise = 0.15 * rng.normal();
    const active = fault !== undefined && t >= fault.startAt;
    if (!active) return { value: load * shaft + noise, faulty: false };
    const since = t - fault.startAt;
    switch (fault.type) {
      case 'spike': {
        // Impacts and loose-mount knocks: rare, large, either sign.
        if (rng.next() >= 0.02) return { value: load * shaft + noise, faulty: false };
        const sign = rng.next() < 0.5 ? -1 : 1;
        return { value: load * shaft + noise + sign * severity * rng.uniform(3, 5), faulty: true };
      }
      case 'growth': {
        // Imbalance or looseness growing over ~200 samples to 2.5× the healthy amplitude.
        const growth = 1 + 1.5 * severity * Math.min(1, since / 200);
        return { value: growth * load * shaft + noise, faulty: true };
      }
      case 'bearing': {
        const ramp = Math.min(1, since / 100);
        const envelope = 1 + 0.5 * Math.sin(2 * Math.PI * f1 * t + p1);
        const ring = 0.6 * severity * ramp * envelope * Math.sin(2 * Math.PI * fBearing * t);
        return { value: load * shaft + ring + noise, faulty: true };
      }
    }
  };
}

/**
 * A process temperature held near a setpoint: slow drift from ambient and load cycles, and
 * sensor noise. Readings are a few seconds apart, so a 32-sample window sees a short stretch.
 */
function temperatureModel(rng: Rng, fault: Fault<TemperatureFaultType> | undefined): Sampler {
  const setpoint = 60 + rng.uniform(-0.5, 0.5);
  const pSlow = rng.uniform(0, 2 * Math.PI);
  const pFast = rng.uniform(0, 2 * Math.PI);
  const severity = fault?.severity ?? 1;
  let last = setpoint;
  let stuckAt: number | undefined;
  return (t) => {
    const drift =
      1.5 * Math.sin((2 * Math.PI * t) / 3000 + pSlow) + 0.6 * Math.sin((2 * Math.PI * t) / 700 + pFast);
    const healthy = setpoint + drift + 0.1 * rng.normal();
    const active = fault !== undefined && t >= fault.startAt;
    if (!active) {
      last = healthy;
      return { value: healthy, faulty: false };
    }
    const since = t - fault.startAt;
    switch (fault.type) {
      case 'step':
        // A cooling loss or a heater stuck on: the process jumps several degrees at once.
        return { value: healthy + 6 * severity, faulty: true };
      case 'overheat':
        // Runaway: climbing 0.05 °C per reading, up to 25 °C above normal.
        return { value: healthy + Math.min(25, 0.05 * severity * since), faulty: true };
      case 'flatline':
        // A stuck sensor or a frozen gateway repeats its last good value.
        stuckAt ??= last;
        return { value: stuckAt, faulty: true };
    }
  };
}

export interface WindowSet {
  /** `count` windows of `size` readings each, row-major. */
  readonly data: Float64Array;
  /** 1 when a window holds at least one faulty reading. */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly size: number;
}

/** Slides a window of `size` over the stream, moving `stride` readings each time. */
export function collectWindows(stream: SensorStream, count: number, size: number, stride: number): WindowSet {
  if (stride < 1 || size < 1) throw new RangeError(`window size ${size} and stride ${stride} must be ≥ 1`);
  const data = new Float64Array(count * size);
  const labels = new Uint8Array(count);
  const buffer: Reading[] = [];
  for (let w = 0; w < count; w++) {
    const needed = w === 0 ? size : stride;
    for (let i = 0; i < needed; i++) buffer.push(stream.nextReading());
    // A stride longer than the window skips readings in between.
    while (buffer.length > size) buffer.shift();
    buffer.forEach((r, i) => {
      data[w * size + i] = r.value;
      if (r.faulty) labels[w] = 1;
    });
  }
  return { data, labels, count, size };
}

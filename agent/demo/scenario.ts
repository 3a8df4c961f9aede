import { createHash } from 'node:crypto';
import { createSensorStream, type SensorStream } from '../../models/generate/synthetic.js';
import type { FaultPlan, SensorKind } from './simulator.js';

/** A simulated sensor whose readings switch between healthy and an injected fault. */
export interface DemoSensor {
  next(fault: string | null): number;
}

/**
 * The healthy stream advances on every reading; a fault episode starts a second stream with
 * the same seed, fast-forwarded to the same reading, whose fault begins now — so the signal
 * is continuous into and out of the episode, and only the fault itself looks different.
 */
class SwitchingSensor implements DemoSensor {
  private readonly healthy: SensorStream;
  private episode: { type: string; stream: SensorStream } | null = null;

  constructor(
    private readonly kind: SensorKind,
    private readonly seed: number,
  ) {
    this.healthy = createSensorStream({ kind, seed } as Parameters<typeof createSensorStream>[0]);
  }

  next(fault: string | null): number {
    const index = this.healthy.index;
    const healthy = this.healthy.next();
    if (fault === null) {
      this.episode = null;
      return healthy;
    }
    if (this.episode?.type !== fault) {
      const stream = createSensorStream({
        kind: this.kind,
        seed: this.seed,
        fault: { type: fault, startAt: index },
      } as Parameters<typeof createSensorStream>[0]);
      while (stream.index < index) stream.next();
      this.episode = { type: fault, stream };
    }
    return this.episode.stream.next();
  }
}

export function demoSensor(kind: SensorKind, machine: string): DemoSensor {
  const seed = createHash('sha256').update(`${machine}/${kind}`).digest().readUInt32BE(0);
  return new SwitchingSensor(kind, seed);
}

/**
 * The clearest fault of each kind comes first, so even a short run shows a detection. A stuck
 * sensor (flatline) is left out: a reconstruction-error model scores a flat window as very
 * normal, so it needs a rule of its own, not this model.
 */
const DEMO_FAULTS: Record<SensorKind, readonly string[]> = {
  vibration: ['growth', 'bearing', 'spike'],
  temperature: ['step', 'overheat'],
};

/**
 * The fault schedule: machines take turns, one 10-second fault at a time, alternating
 * vibration and temperature faults and cycling through every fault type.
 */
export function demoFaultPlan(machines: readonly string[], untilS: number): FaultPlan[] {
  const plan: FaultPlan[] = [];
  const kinds: SensorKind[] = ['vibration', 'temperature'];
  for (let i = 0, start = 4; start < untilS; i++, start += 15) {
    const machine = machines[i % machines.length] as string;
    const kind = kinds[i % 2] as SensorKind;
    const types = DEMO_FAULTS[kind];
    const type = types[Math.floor(i / 2) % types.length] as string;
    plan.push({ machine, kind, type, startS: start, durationS: 10 });
  }
  return plan;
}

import { FieldmeshError } from '../../protocol/errors.js';
import type { RejectReason } from '../ingest/reject-reasons.js';

export interface WindowRules {
  /** Samples per window. */
  readonly size: number;
  /** New samples between two windows of one sensor. */
  readonly stride: number;
  /** A longer silence (in payload time) restarts the sensor's window. */
  readonly maxGapMs: number;
  /** A sensor with no accepted reading for this long (in receive time) is forgotten by sweep(). */
  readonly staleMs: number;
  /** Bound on sensors tracked at once. */
  readonly maxSensors: number;
}

/** `size` consecutive samples of one sensor, ready for a model. */
export interface Window {
  readonly sensor: string;
  /** Timestamp of the payload that brought the first sample (ms since the epoch). */
  readonly start: number;
  /** Timestamp of the payload that brought the last sample. */
  readonly end: number;
  /** A fresh copy, oldest sample first, `size` long; the receiver may normalise it in place. */
  readonly values: Float32Array;
}

export type WindowRejectReason = Extract<
  RejectReason,
  'duplicate' | 'out_of_order' | 'sensor_limit' | 'wrong_length' | 'non_finite'
>;

export interface PushOutcome {
  /** Every window the reading completed, oldest first: usually none or one. Empty when rejected. */
  readonly windows: readonly Window[];
  /** Why the reading was not taken; null when it was. */
  readonly rejected: WindowRejectReason | null;
  /** The reading came after a gap longer than maxGapMs, so the sensor's buffer restarted with it. */
  readonly gapReset: boolean;
}

/** Window rules that cannot work (a size of 0, a fractional stride …). Thrown by the constructor. */
export class WindowRulesError extends FieldmeshError {
  constructor(rule: keyof WindowRules, problem: string) {
    super('WINDOW_RULES_INVALID', `window.${rule} ${problem}`);
  }
}

interface SensorRing {
  readonly values: Float32Array;
  readonly times: Float64Array;
  /** Where the next sample goes; once the ring is full, also the oldest sample. */
  head: number;
  /** Samples held, up to size. */
  filled: number;
  /** Samples still to arrive before the next window is due. */
  untilEmit: number;
  /** Payload timestamp of the last accepted reading. */
  lastTs: number;
  /** Receive time of the last accepted reading, for sweep(). */
  lastSeen: number;
}

const NO_WINDOWS: readonly Window[] = Object.freeze([]);
// Outcomes without windows are shared, so the common push allocates nothing.
const ACCEPTED: PushOutcome = Object.freeze({ windows: NO_WINDOWS, rejected: null, gapReset: false });
const ACCEPTED_AFTER_GAP: PushOutcome = Object.freeze({
  windows: NO_WINDOWS,
  rejected: null,
  gapReset: true,
});
const REJECTED: Readonly<Record<WindowRejectReason, PushOutcome>> = Object.freeze({
  duplicate: Object.freeze({ windows: NO_WINDOWS, rejected: 'duplicate', gapReset: false }),
  out_of_order: Object.freeze({ windows: NO_WINDOWS, rejected: 'out_of_order', gapReset: false }),
  sensor_limit: Object.freeze({ windows: NO_WINDOWS, rejected: 'sensor_limit', gapReset: false }),
  wrong_length: Object.freeze({ windows: NO_WINDOWS, rejected: 'wrong_length', gapReset: false }),
  non_finite: Object.freeze({ windows: NO_WINDOWS, rejected: 'non_finite', gapReset: false }),
});

/**
 * Sliding windows, one ring buffer per sensor. Semantics (also in docs/windows.md):
 *
 * - A reading is one payload: one timestamp `ts` and one or more samples, appended in order.
 *   All samples of a payload carry the payload's ts, so a window's start/end are payload times.
 * - The first window of a sensor is emitted when it has `size` samples; after that one every
 *   `stride` new samples, each holding the `size` most recent samples. A payload that makes
 *   several windows due emits all of them, oldest first, so no window is skipped.
 * - ts equal to the sensor's last accepted ts: rejected `duplicate`. Older: rejected
 *   `out_of_order` and not inserted, so every window stays causal. Rejected readings change
 *   nothing, not even staleness.
 * - ts - last ts > maxGapMs: the buffer restarts with this reading (gapReset), because a
 *   window spanning an outage would mislead the model; the next window needs `size` samples.
 * - A sensor not tracked yet, while maxSensors are: rejected `sensor_limit`.
 * - An empty reading is rejected `wrong_length`, a non-finite ts or sample `non_finite`.
 * - sweep(now) forgets sensors whose last accepted reading was received staleMs or more ago;
 *   a forgotten (or reset) sensor starts afresh, with no duplicate/order check on its next reading.
 */
export class SlidingWindows {
  readonly rules: Readonly<WindowRules>;
  private readonly rings = new Map<string, SensorRing>();

  constructor(rules: WindowRules) {
    this.rules = Object.freeze(checkRules(rules));
  }

  /** Sensors currently tracked. */
  get sensorCount(): number {
    return this.rings.size;
  }

  /**
   * Takes one reading of `sensor`. `receivedAt` is when it arrived, on the clock later given to
   * sweep(); it defaults to `ts`, which is right only when payload timestamps come from that clock.
   */
  push(sensor: string, ts: number, values: ArrayLike<number>, receivedAt: number = ts): PushOutcome {
    const n = values.length;
    if (n === 0) return REJECTED.wrong_length;
    if (!Number.isFinite(ts)) return REJECTED.non_finite;
    for (let i = 0; i < n; i++) if (!Number.isFinite(values[i])) return REJECTED.non_finite;

    let ring = this.rings.get(sensor);
    let gapReset = false;
    if (ring === undefined) {
      if (this.rings.size >= this.rules.maxSensors) return REJECTED.sensor_limit;
      ring = this.newRing();
      this.rings.set(sensor, ring);
    } else if (ts === ring.lastTs) {
      return REJECTED.duplicate;
    } else if (ts < ring.lastTs) {
      return REJECTED.out_of_order;
    } else if (ts - ring.lastTs > this.rules.maxGapMs) {
      ring.head = 0;
      ring.filled = 0;
      ring.untilEmit = this.rules.size;
      gapReset = true;
    }
    ring.lastTs = ts;
    ring.lastSeen = receivedAt;
    const windows = this.append(sensor, ring, ts, values);
    if (windows === undefined) return gapReset ? ACCEPTED_AFTER_GAP : ACCEPTED;
    return { windows, rejected: null, gapReset };
  }

  /** Forgets sensors with no accepted reading received in the last staleMs; returns how many. */
  sweep(now: number): number {
    let evicted = 0;
    for (const [sensor, ring] of this.rings) {
      if (now - ring.lastSeen >= this.rules.staleMs) {
        this.rings.delete(sensor); // deleting the current entry is safe while iterating a Map
        evicted++;
      }
    }
    return evicted;
  }

  /** Forgets one sensor (its buffer and last timestamp), or all of them. */
  reset(sensor?: string): void {
    if (sensor === undefined) this.rings.clear();
    else this.rings.delete(sensor);
  }

  private newRing(): SensorRing {
    const { size } = this.rules;
    return {
      values: new Float32Array(size),
      times: new Float64Array(size),
      head: 0,
      filled: 0,
      untilEmit: size,
      lastTs: Number.NEGATIVE_INFINITY,
      lastSeen: Number.NEGATIVE_INFINITY,
    };
  }

  private append(
    sensor: string,
    ring: SensorRing,
    ts: number,
    values: ArrayLike<number>,
  ): Window[] | undefined {
    const { size, stride } = this.rules;
    let windows: Window[] | undefined;
    for (let i = 0; i < values.length; i++) {
      ring.values[ring.head] = values[i] as number;
      ring.times[ring.head] = ts;
      ring.head = ring.head + 1 === size ? 0 : ring.head + 1;
      if (ring.filled < size) ring.filled++;
      if (--ring.untilEmit === 0) {
        ring.untilEmit = stride;
        const window = snapshot(sensor, ring, size);
        if (windows === undefined) windows = [window];
        else windows.push(window);
      }
    }
    return windows;
  }
}

/** Copies a full ring out, oldest first: two block copies around the wrap point, no shifting. */
function snapshot(sensor: string, ring: SensorRing, size: number): Window {
  const { head } = ring;
  const values = new Float32Array(size);
  values.set(ring.values.subarray(head));
  if (head > 0) values.set(ring.values.subarray(0, head), size - head);
  const start = ring.times[head] as number;
  const end = ring.times[head === 0 ? size - 1 : head - 1] as number;
  return { sensor, start, end, values };
}

function checkRules(rules: WindowRules): WindowRules {
  const { size, stride, maxGapMs, staleMs, maxSensors } = rules;
  if (!isCount(size))
    throw new WindowRulesError('size', `is ${size}; expected a whole number of samples ≥ 1`);
  if (!isCount(stride))
    throw new WindowRulesError('stride', `is ${stride}; expected a whole number of samples ≥ 1`);
  if (!(typeof maxGapMs === 'number' && maxGapMs > 0)) {
    throw new WindowRulesError(
      'maxGapMs',
      `is ${maxGapMs}; expected milliseconds > 0 (Infinity: never restart)`,
    );
  }
  if (!(typeof staleMs === 'number' && staleMs > 0)) {
    throw new WindowRulesError(
      'staleMs',
      `is ${staleMs}; expected milliseconds > 0 (Infinity: never forget)`,
    );
  }
  if (!isCount(maxSensors))
    throw new WindowRulesError('maxSensors', `is ${maxSensors}; expected a whole number ≥ 1`);
  return { size, stride, maxGapMs, staleMs, maxSensors };
}

function isCount(n: unknown): n is number {
  return Number.isSafeInteger(n) && (n as number) >= 1;
}

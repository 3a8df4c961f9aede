/**
 * Labelled evaluation data shipped beside each example model, models/examples/<id>/eval.jsonl:
 * readings from the generator's 'eval' stream seeds (never used for training or thresholds),
 * each stream healthy for its first half and then carrying one injected fault.
 *
 * Format: JSON Lines (UTF-8, one JSON object per line).
 *   line 1, the header: {"format":"fieldmesh-eval/1","model":"<id>","kind":"<sensor kind>",
 *     "window":W,"stride":S,"readingsPerStream":2048,"faultStartsAt":1024,"streams":n,"about":"…"}
 *   then n lines, one per stream: {"fault":"<fault type>","seed":<stream seed>,
 *     "values":[readings in order, 5 significant digits],"faulty":"0…01…"}
 *   where faulty has one character per reading: "1" when the injected fault shaped that reading.
 * Windows are cut as the generator cuts them: window k holds readings k·S … k·S+W−1 and is
 * faulty when any of its readings is. Pure functions; main.ts writes the file.
 */
import { FieldmeshError } from '../../protocol/errors.js';
import { type ExampleSpec, streamSeed } from './examples.js';
import {
  createSensorStream,
  type FaultType,
  type SensorKind,
  type SensorStreamOptions,
} from './synthetic.js';

export const EVAL_FORMAT = 'fieldmesh-eval/1';
export const EVAL_FILE = 'eval.jsonl';
export const EVAL_READINGS = 2048;
/** Late enough for a full rolling-baseline history and a few hundred normal windows before it. */
export const EVAL_FAULT_AT = 1024;
export const EVAL_STREAMS_PER_FAULT = 2;
const DIGITS = 5;

/** An eval data file that cannot be read as the format above. */
export class EvalDataError extends FieldmeshError {
  constructor(message: string) {
    super('EVAL_DATA_INVALID', message);
  }
}

export interface EvalHeader {
  readonly format: string;
  readonly model: string;
  readonly kind: SensorKind;
  readonly window: number;
  readonly stride: number;
  readonly readingsPerStream: number;
  readonly faultStartsAt: number;
  readonly streams: number;
  readonly about: string;
}

export interface EvalStream {
  readonly fault: FaultType;
  readonly seed: number;
  readonly values: readonly number[];
  /** One character per reading: "1" when the fault shaped it. */
  readonly faulty: string;
}

export interface EvalData {
  readonly header: EvalHeader;
  readonly streams: readonly EvalStream[];
}

/** `count` consecutive readings of one synthetic sensor: values, and 1 where the fault shaped the reading. */
export function streamReadings(
  kind: SensorKind,
  seed: number,
  count: number,
  fault?: { readonly type: FaultType; readonly startAt: number },
): { values: Float64Array; faulty: Uint8Array } {
  // The kind is a plain SensorKind here; createSensorStream checks the kind/fault pairing at run time.
  const options = { kind, seed, ...(fault === undefined ? {} : { fault }) } as SensorStreamOptions;
  const stream = createSensorStream(options);
  const values = new Float64Array(count);
  const faulty = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const r = stream.nextReading();
    values[i] = r.value;
    faulty[i] = r.faulty ? 1 : 0;
  }
  return { values, faulty };
}

/** The eval data for `spec`: EVAL_STREAMS_PER_FAULT machines per fault, none shared between faults. */
export function evalData(spec: ExampleSpec): EvalData {
  const faults = [...spec.detects, ...spec.alsoEvaluates];
  const streams = faults.flatMap((fault, f) =>
    Array.from({ length: EVAL_STREAMS_PER_FAULT }, (_, s) => {
      const seed = streamSeed(spec, 'eval', f * EVAL_STREAMS_PER_FAULT + s);
      const r = streamReadings(spec.kind, seed, EVAL_READINGS, { type: fault, startAt: EVAL_FAULT_AT });
      return {
        fault,
        seed,
        values: Array.from(r.values, (v) => Number(v.toPrecision(DIGITS))),
        faulty: r.faulty.join(''),
      };
    }),
  );
  const header: EvalHeader = {
    format: EVAL_FORMAT,
    model: spec.id,
    kind: spec.kind,
    window: spec.window,
    stride: spec.stride,
    readingsPerStream: EVAL_READINGS,
    faultStartsAt: EVAL_FAULT_AT,
    streams: streams.length,
    about:
      `Synthetic ${spec.kind} readings, one stream per line, healthy until faultStartsAt and then carrying ` +
      'the named fault; faulty has one character per reading, "1" where the fault shaped it. See docs/example-models.md.',
  };
  return { header, streams };
}

export function evalDataText(data: EvalData): string {
  return `${[data.header, ...data.streams].map((o) => JSON.stringify(o)).join('\n')}\n`;
}

/** Parses eval.jsonl text; `where` (a file name) goes into error messages. */
export function parseEvalData(text: string, where: string): EvalData {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const parsed = lines.map((line, i) => {
    try {
      return JSON.parse(line) as unknown;
    } catch (err) {
      throw new EvalDataError(
        `${where}:${i + 1}: not JSON (${(err as Error).message}); regenerate it with npm run models:generate`,
      );
    }
  });
  const header = parsed[0] as Partial<EvalHeader> | undefined;
  if (header?.format !== EVAL_FORMAT) {
    throw new EvalDataError(`${where}:1: expected a header with "format": "${EVAL_FORMAT}"`);
  }
  for (const key of ['window', 'stride', 'streams'] as const) {
    if (!Number.isInteger(header[key]) || (header[key] as number) < 1) {
      throw new EvalDataError(`${where}:1: header "${key}" must be an integer ≥ 1, got ${header[key]}`);
    }
  }
  const streams = parsed.slice(1).map((s, i) => checkStream(s, `${where}:${i + 2}`));
  if (streams.length !== header.streams) {
    throw new EvalDataError(
      `${where}: the header promises ${header.streams} streams, the file holds ${streams.length}`,
    );
  }
  return { header: header as EvalHeader, streams };
}

function checkStream(s: unknown, where: string): EvalStream {
  const o = s as Partial<EvalStream> | null;
  if (typeof o?.fault !== 'string' || !Number.isInteger(o.seed)) {
    throw new EvalDataError(`${where}: a stream needs "fault" (a fault type) and "seed" (an integer)`);
  }
  if (!Array.isArray(o.values) || !o.values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new EvalDataError(`${where}: "values" must be an array of finite numbers`);
  }
  if (typeof o.faulty !== 'string' || !/^[01]*$/.test(o.faulty) || o.faulty.length !== o.values.length) {
    throw new EvalDataError(
      `${where}: "faulty" must be a string of 0 and 1, one per value (${o.values.length})`,
    );
  }
  return o as EvalStream;
}

/** Starts of the windows collectWindows cuts (k·stride), from `first` on, that fit in `length` readings. */
export function windowStarts(length: number, window: number, stride: number, first = 0): number[] {
  const starts: number[] = [];
  for (let s = Math.ceil(first / stride) * stride; s + window <= length; s += stride) starts.push(s);
  return starts;
}

/** The windows at `starts`, row-major, and 1 for each window that holds a faulty reading. */
export function cutWindows(
  stream: EvalStream,
  starts: readonly number[],
  window: number,
): { data: Float64Array; labels: Uint8Array } {
  const data = new Float64Array(starts.length * window);
  const labels = new Uint8Array(starts.length);
  starts.forEach((start, w) => {
    for (let i = 0; i < window; i++) data[w * window + i] = stream.values[start + i] as number;
    labels[w] = stream.faulty.slice(start, start + window).includes('1') ? 1 : 0;
  });
  return { data, labels };
}

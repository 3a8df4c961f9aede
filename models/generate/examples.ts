/**
 * The example anomaly models: what data each is trained on, how its threshold is chosen and
 * how it is evaluated. No I/O: main.ts writes the files, tests rebuild and compare.
 */
import { createHash } from 'node:crypto';
import type { ModelManifest } from '../manifest.js';
import { autoencoderScores, type Mlp, toFloat32 } from '../train/reference.js';
import { buildAutoencoderModel } from '../train/to-onnx.js';
import { type TrainOptions, trainAutoencoder } from '../train/trainer.js';
import {
  combineStats,
  type DetectionStats,
  detectionStats,
  type Normalisation,
  normalisationOf,
  normalise,
  quantile,
} from './evaluate.js';
import {
  collectWindows,
  createSensorStream,
  type FaultType,
  type SensorKind,
  type SensorStreamOptions,
} from './synthetic.js';

export interface ExampleSpec {
  readonly id: string;
  readonly kind: SensorKind;
  readonly version: string;
  readonly description: string;
  readonly seed: number;
  readonly window: number;
  /** Readings between the starts of consecutive windows. */
  readonly stride: number;
  readonly trainStreams: number;
  readonly heldOutStreams: number;
  readonly windowsPerStream: number;
  /** Faults counted in the published precision/recall. */
  readonly detects: readonly FaultType[];
  /** Faults evaluated and printed, but that a reconstruction score cannot catch (see description). */
  readonly alsoEvaluates: readonly FaultType[];
  readonly train: Omit<TrainOptions, 'seed'>;
  readonly thresholdQuantile: number;
  readonly thresholdMargin: number;
}

const AUTOENCODER: Omit<TrainOptions, 'seed'> = {
  sizes: [32, 16, 8, 16, 32],
  hiddenActivation: 'tanh',
  outputActivation: 'linear',
  epochs: 40,
  batchSize: 32,
  learningRate: 0.003,
};

export const EXAMPLES: readonly ExampleSpec[] = [
  {
    id: 'vibration-ae',
    kind: 'vibration',
    version: '1.0.0',
    description:
      'Dense autoencoder (32-16-8-16-32, tanh) over windows of 32 acceleration readings of a rotating machine. ' +
      'Score = mean squared reconstruction error of the normalised window; above the threshold flags impacts ' +
      '(spikes), growing imbalance/looseness (amplitude growth) and bearing wear (high-frequency ringing).',
    seed: 1,
    window: 32,
    stride: 4,
    trainStreams: 8,
    heldOutStreams: 4,
    windowsPerStream: 500,
    detects: ['spike', 'growth', 'bearing'],
    alsoEvaluates: [],
    train: AUTOENCODER,
    thresholdQuantile: 0.995,
    thresholdMargin: 1.25,
  },
  {
    id: 'temperature-ae',
    kind: 'temperature',
    version: '1.0.0',
    description:
      'Dense autoencoder (32-16-8-16-32, tanh) over windows of 32 process-temperature readings near a 60 °C setpoint. ' +
      'Score = mean squared reconstruction error of the normalised window; above the threshold flags steps and ' +
      'overheating. A stuck sensor (flatline) reconstructs too well and scores LOW: pair this model with a ' +
      'minimum-variance check to catch it.',
    seed: 2,
    window: 32,
    stride: 8,
    trainStreams: 8,
    heldOutStreams: 4,
    windowsPerStream: 500,
    detects: ['step', 'overheat'],
    alsoEvaluates: ['flatline'],
    train: AUTOENCODER,
    thresholdQuantile: 0.995,
    thresholdMargin: 1.25,
  },
  {
    id: 'current-ae',
    kind: 'current',
    version: '1.0.0',
    description:
      'Dense autoencoder (32-16-8-16-32, tanh) over windows of 32 phase-current readings of a mains-fed motor ' +
      '(16 per mains cycle, so two cycles). Score = mean squared reconstruction error of the normalised window; ' +
      'above the threshold flags overload (current up to 1.7× normal), phase dropouts (a contactor opening for ' +
      'one to three cycles) and harmonic distortion (strong 5th and 7th harmonics at about the same RMS current).',
    seed: 3,
    window: 32,
    stride: 4,
    trainStreams: 8,
    heldOutStreams: 4,
    windowsPerStream: 500,
    detects: ['overload', 'dropout', 'harmonics'],
    alsoEvaluates: [],
    train: AUTOENCODER,
    thresholdQuantile: 0.995,
    thresholdMargin: 1.25,
  },
  {
    id: 'pressure-ae',
    kind: 'pressure',
    version: '1.0.0',
    description:
      'Dense autoencoder (32-16-8-16-32, tanh) over windows of 32 pressure readings of a pneumatic cylinder ' +
      'cycled between vented and about 6 bar every ~48 readings. Score = mean squared reconstruction error of ' +
      'the normalised window; above the threshold flags leaks (pressure sagging while held), pressure surges ' +
      '(spikes of 2 to 4 bar) and a stuck transmitter (a flat window, which a cycling machine never shows).',
    seed: 4,
    window: 32,
    stride: 4,
    trainStreams: 8,
    heldOutStreams: 4,
    windowsPerStream: 500,
    detects: ['leak', 'surge', 'stuck'],
    alsoEvaluates: [],
    train: AUTOENCODER,
    thresholdQuantile: 0.995,
    thresholdMargin: 1.25,
  },
];

export interface ExampleResult {
  readonly bytes: Uint8Array;
  readonly manifest: ModelManifest;
  readonly normalisation: Normalisation;
  readonly threshold: number;
  readonly perFault: Readonly<Record<string, DetectionStats>>;
  readonly overall: DetectionStats;
  readonly losses: readonly number[];
}

/** Stream seeds per purpose, far apart so training, held-out and evaluation data never overlap. */
export function streamSeed(spec: ExampleSpec, purpose: 'train' | 'heldOut' | 'eval', i: number): number {
  const offset = { train: 0, heldOut: 10_000, eval: 20_000 }[purpose];
  return spec.seed * 100_000 + offset + i;
}

/** Windows of normal readings from `streams` machines, concatenated. */
export function normalWindows(
  spec: ExampleSpec,
  purpose: 'train' | 'heldOut',
  streams: number,
): Float64Array {
  const out = new Float64Array(streams * spec.windowsPerStream * spec.window);
  for (let i = 0; i < streams; i++) {
    // The spec's kind is a plain SensorKind; createSensorStream checks the kind/fault pairing at run time.
    const stream = createSensorStream({
      kind: spec.kind,
      seed: streamSeed(spec, purpose, i),
    } as SensorStreamOptions);
    const w = collectWindows(stream, spec.windowsPerStream, spec.window, spec.stride);
    out.set(w.data, i * w.data.length);
  }
  return out;
}

/** A stream that runs normally for half of its windows, then with `fault`. */
export function faultWindows(
  spec: ExampleSpec,
  fault: FaultType,
  i: number,
): { data: Float64Array; labels: Uint8Array } {
  const startAt = Math.floor((spec.windowsPerStream * spec.stride) / 2);
  const options = { kind: spec.kind, seed: streamSeed(spec, 'eval', i), fault: { type: fault, startAt } };
  return collectWindows(
    createSensorStream(options as SensorStreamOptions),
    spec.windowsPerStream,
    spec.window,
    spec.stride,
  );
}

export function buildExample(spec: ExampleSpec): ExampleResult {
  const train = normalWindows(spec, 'train', spec.trainStreams);
  // Rounded first, so evaluation uses exactly the values the agent will read from the manifest.
  const exact = normalisationOf(train);
  const normalisation = { mean: round(exact.mean), std: round(exact.std) };
  const rows = train.length / spec.window;
  const { mlp, losses } = trainAutoencoder(normalise(train, normalisation), rows, {
    ...spec.train,
    seed: spec.seed,
  });
  const exported = toFloat32(mlp);
  const heldOut = normalise(normalWindows(spec, 'heldOut', spec.heldOutStreams), normalisation);
  const heldOutScores = autoencoderScores(exported, heldOut, heldOut.length / spec.window).scores;
  const threshold = thresholdByRule(spec, heldOutScores);

  const perFault: Record<string, DetectionStats> = {};
  for (const fault of [...spec.detects, ...spec.alsoEvaluates]) {
    perFault[fault] = evaluateFault(spec, exported, normalisation, threshold, fault);
  }
  const overall = combineStats(spec.detects.map((f) => perFault[f] as DetectionStats));
  const bytes = buildAutoencoderModel(exported, {
    name: spec.id,
    docString: spec.description,
    producerVersion: spec.version,
  });
  const manifest = exampleManifest(spec, bytes, normalisation, threshold, overall, rows);
  return { bytes, manifest, normalisation, threshold, perFault, overall, losses };
}

function evaluateFault(
  spec: ExampleSpec,
  mlp: Mlp,
  n: Normalisation,
  threshold: number,
  fault: FaultType,
): DetectionStats {
  const parts: DetectionStats[] = [];
  for (let i = 0; i < spec.heldOutStreams; i++) {
    const w = faultWindows(spec, fault, i);
    const scores = autoencoderScores(mlp, normalise(w.data, n), w.labels.length).scores;
    parts.push(detectionStats(scores, w.labels, threshold));
  }
  return combineStats(parts);
}

/**
 * The spec's threshold rule, for the model and for any baseline compared with it: a high
 * quantile of the scores of held-out normal windows, with a margin for machines the training
 * data did not see, rounded to six significant digits (stable text in the manifest).
 */
export function thresholdByRule(spec: ExampleSpec, normalScores: ArrayLike<number>): number {
  return Number((quantile(normalScores, spec.thresholdQuantile) * spec.thresholdMargin).toPrecision(6));
}

function exampleManifest(
  spec: ExampleSpec,
  bytes: Uint8Array,
  n: Normalisation,
  threshold: number,
  overall: DetectionStats,
  samples: number,
): ExampleResult['manifest'] {
  const width = spec.window;
  return {
    id: spec.id,
    version: spec.version,
    description: spec.description,
    file: 'model.onnx',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    inputs: [{ name: 'window', type: 'float32', shape: ['N', width] }],
    outputs: [
      { name: 'score', type: 'float32', shape: ['N'] },
      { name: 'reconstruction', type: 'float32', shape: ['N', width] },
    ],
    preprocessing: { window: width, normalise: { mean: n.mean, std: n.std } },
    postprocessing: { score: 'score', threshold, labels: [] },
    training: {
      seed: spec.seed,
      samples,
      precision: round(overall.precision),
      recall: round(overall.recall),
      thresholdRule: `${spec.thresholdMargin} × q${spec.thresholdQuantile} of ${spec.heldOutStreams * spec.windowsPerStream} held-out normal windows`,
      evaluatedFaults: [...spec.detects],
    },
  };
}

function round(x: number): number {
  return Number(x.toPrecision(8));
}

/** Stable manifest text: key order as built, two-space indent, final newline. */
export function manifestText(manifest: ModelManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

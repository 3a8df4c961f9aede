/**
 * Calibrations on disk: `<dataDir>/calibration/<pipelineId>.json`, one per pipeline, written to
 * a temporary name, synced and renamed, so a power cut leaves the old file or the new one.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../receipts/vouchers-files.js';
import type { Learned, Normalisation } from './calibrator.js';

/** The file's format; a different one is treated as absent. */
export const CALIBRATION_FORMAT = 1;

export interface StoredCalibration {
  readonly format: typeof CALIBRATION_FORMAT;
  readonly pipeline: string;
  /** The model the calibration was learned with; another digest invalidates it. */
  readonly model: { readonly id: string; readonly version: string; readonly sha256: string };
  readonly normalise?: Normalisation;
  readonly threshold?: number;
  readonly windows: number;
  readonly quantile: number;
  readonly margin: number;
  /** ISO-8601, when probation completed. */
  readonly calibratedAt: string;
}

export type LoadOutcome =
  | { readonly kind: 'found'; readonly calibration: StoredCalibration }
  | { readonly kind: 'absent' }
  /** Learned with another model (digest) or rule: ignored, probation starts again. */
  | { readonly kind: 'stale'; readonly why: string }
  /** Unreadable or not a calibration: reported, probation starts again. */
  | { readonly kind: 'corrupt'; readonly why: string };

export interface CalibrationStore {
  readonly file: string;
  load(expect: { modelSha256: string; normalise: boolean; threshold: boolean }): Promise<LoadOutcome>;
  save(calibration: StoredCalibration): Promise<void>;
  remove(): Promise<void>;
}

export function calibrationFile(dataDir: string, pipelineId: string): string {
  return path.join(dataDir, 'calibration', `${pipelineId}.json`);
}

export function createCalibrationStore(dataDir: string, pipelineId: string): CalibrationStore {
  const file = calibrationFile(dataDir, pipelineId);
  return {
    file,
    load: (expect) => loadCalibration(file, expect),
    save: async (calibration) => {
      await mkdir(path.dirname(file), { recursive: true });
      const text = `${JSON.stringify(calibration, null, 2)}\n`;
      await writeFileAtomic(path.dirname(file), path.basename(file), new TextEncoder().encode(text));
    },
    remove: () => rm(file, { force: true }),
  };
}

export function storedCalibration(
  learned: Learned,
  p: { pipeline: string; model: StoredCalibration['model']; quantile: number; margin: number; at: Date },
): StoredCalibration {
  return {
    format: CALIBRATION_FORMAT,
    pipeline: p.pipeline,
    model: p.model,
    ...(learned.normalise ? { normalise: learned.normalise } : {}),
    ...(learned.threshold === undefined ? {} : { threshold: learned.threshold }),
    windows: learned.windows,
    quantile: p.quantile,
    margin: p.margin,
    calibratedAt: p.at.toISOString(),
  };
}

async function loadCalibration(
  file: string,
  expect: { modelSha256: string; normalise: boolean; threshold: boolean },
): Promise<LoadOutcome> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'corrupt', why: `${file} could not be read: ${(err as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { kind: 'corrupt', why: `${file} is not JSON (${(err as Error).message})` };
  }
  const problem = shapeProblem(doc);
  if (problem !== null) return { kind: 'corrupt', why: `${file} is not a calibration: ${problem}` };
  const c = doc as StoredCalibration;
  if (c.model.sha256 !== expect.modelSha256) {
    return {
      kind: 'stale',
      why: `learned with model ${c.model.id} ${c.model.version} (sha256 ${c.model.sha256.slice(0, 12)}…), not the one loaded now (${expect.modelSha256.slice(0, 12)}…)`,
    };
  }
  if ((c.normalise !== undefined) !== expect.normalise || (c.threshold !== undefined) !== expect.threshold) {
    return { kind: 'stale', why: 'learned with other calibration.normalise/threshold settings' };
  }
  return { kind: 'found', calibration: c };
}

/** Why `doc` is not a calibration of this format, or null. */
function shapeProblem(doc: unknown): string | null {
  if (typeof doc !== 'object' || doc === null) return 'not an object';
  const c = doc as Record<string, unknown>;
  if (c.format !== CALIBRATION_FORMAT)
    return `format ${JSON.stringify(c.format)}, expected ${CALIBRATION_FORMAT}`;
  const model = c.model as Record<string, unknown> | undefined;
  if (typeof model?.sha256 !== 'string' || typeof model.id !== 'string') return 'no model id and sha256';
  if (c.normalise !== undefined) {
    const n = c.normalise as Record<string, unknown>;
    if (!isFiniteNumber(n.mean) || !isFiniteNumber(n.std) || !(n.std > 0))
      return 'normalise needs a finite mean and a std > 0';
  }
  if (c.threshold !== undefined && !isFiniteNumber(c.threshold)) return 'threshold is not a finite number';
  if (c.normalise === undefined && c.threshold === undefined)
    return 'it holds neither normalise nor threshold';
  return null;
}

function isFiniteNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

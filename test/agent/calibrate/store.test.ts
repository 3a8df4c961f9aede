import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CalibrationStore,
  calibrationFile,
  createCalibrationStore,
  storedCalibration,
} from '../../../agent/calibrate/store.js';

const SHA = 'a'.repeat(64);
const EXPECT = { modelSha256: SHA, normalise: true, threshold: true };
let dir: string;
let store: CalibrationStore;

const calibration = storedCalibration(
  { normalise: { mean: 3, std: 5.4 }, threshold: 0.08, windows: 500 },
  {
    pipeline: 'vib',
    model: { id: 'vibration-ae', version: '1.0.0', sha256: SHA },
    quantile: 0.995,
    margin: 1.25,
    at: new Date('2026-11-21T08:00:00Z'),
  },
);

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fm-calibration-store-'));
  store = createCalibrationStore(dir, 'vib');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the calibration store', () => {
  it('keeps one file per pipeline under <dataDir>/calibration and reads back what it wrote', async () => {
    expect(store.file).toBe(path.join(dir, 'calibration', 'vib.json'));
    expect(await store.load(EXPECT)).toEqual({ kind: 'absent' });
    await store.save(calibration);
    expect(await store.load(EXPECT)).toEqual({ kind: 'found', calibration });
    expect(JSON.parse(await readFile(store.file, 'utf8'))).toMatchObject({
      format: 1,
      pipeline: 'vib',
      model: { sha256: SHA },
      normalise: { mean: 3, std: 5.4 },
      threshold: 0.08,
      windows: 500,
      calibratedAt: '2026-11-21T08:00:00.000Z',
    });
  });

  it('replaces the file by renaming a complete one into place, leaving no temporary file', async () => {
    await store.save(calibration);
    await store.save({ ...calibration, threshold: 0.09 });
    expect(await readdir(path.dirname(store.file))).toEqual(['vib.json']);
    const found = await store.load(EXPECT);
    expect(found.kind === 'found' && found.calibration.threshold).toBe(0.09);
  });

  it('calls a calibration of another model stale, naming both digests', async () => {
    await store.save(calibration);
    const other = await store.load({ ...EXPECT, modelSha256: 'b'.repeat(64) });
    expect(other.kind).toBe('stale');
    expect(other.kind === 'stale' && other.why).toMatch(
      /vibration-ae 1\.0\.0 \(sha256 aaaaaaaaaaaa…\), not .*bbbbbbbbbbbb/,
    );
  });

  it('calls a calibration that learned other things stale', async () => {
    await store.save(calibration);
    expect((await store.load({ ...EXPECT, threshold: false })).kind).toBe('stale');
  });

  it('reports a corrupt or foreign file with its path instead of failing', async () => {
    const file = calibrationFile(dir, 'vib');
    await store.save(calibration);
    await writeFile(file, '{"format":1,"model":');
    const broken = await store.load(EXPECT);
    expect(broken.kind).toBe('corrupt');
    expect(broken.kind === 'corrupt' && broken.why).toContain(`${file} is not JSON`);
    await writeFile(file, JSON.stringify({ ...calibration, normalise: { mean: 0, std: 0 } }));
    const bad = await store.load(EXPECT);
    expect(bad.kind === 'corrupt' && bad.why).toMatch(/std > 0/);
    await writeFile(file, JSON.stringify({ ...calibration, format: 7 }));
    expect((await store.load(EXPECT)).kind).toBe('corrupt');
  });

  it('forgets a calibration on remove, and removing none is fine', async () => {
    await store.save(calibration);
    await store.remove();
    await store.remove();
    expect(await store.load(EXPECT)).toEqual({ kind: 'absent' });
  });
});

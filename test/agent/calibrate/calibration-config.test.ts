import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../agent/config/load.js';

function config(pipeline: Record<string, unknown>) {
  return validateConfig(
    {
      node: { name: 'n', dataDir: '/tmp/fm-calibration-config' },
      models: [{ id: 'm', manifest: 'm.json' }],
      pipelines: [{ id: 'vib', model: 'm', input: { topic: 'plant/+/vib' }, ...pipeline }],
    },
    'site.yaml',
    { env: {} },
  );
}

describe('the calibration section of a pipeline', () => {
  it('defaults to 500 windows, 1.25 × q0.995, learning normalisation and threshold', () => {
    expect(config({ calibration: {} }).pipelines[0]?.calibration).toEqual({
      windows: 500,
      quantile: 0.995,
      margin: 1.25,
      normalise: true,
      threshold: true,
    });
    expect(config({}).pipelines[0]?.calibration).toBeUndefined();
  });

  it('refuses a fixed normalise or threshold that calibration would learn, saying how to keep it', () => {
    expect(() => config({ calibration: {}, normalise: { mean: 0, std: 1 }, threshold: 0.1 })).toThrow(
      /pipelines\[0\]\.normalise[\s\S]*calibration\.normalise: false[\s\S]*pipelines\[0\]\.threshold/,
    );
    expect(
      config({ calibration: { normalise: false }, normalise: { mean: 0, std: 1 } }).pipelines[0]?.normalise,
    ).toEqual({ mean: 0, std: 1 });
  });

  it('refuses a calibration that learns nothing, and a probation shorter than 16 windows', () => {
    expect(() => config({ calibration: { normalise: false, threshold: false } })).toThrow(
      /pipelines\[0\]\.calibration[\s\S]*nothing to learn/,
    );
    expect(() => config({ calibration: { windows: 8 } })).toThrow(/pipelines\[0\]\.calibration\.windows/);
  });
});

import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../agent/config/load.js';
import {
  type BackendSetting,
  chooseBackend,
  NativeBackendUnavailableError,
} from '../../../agent/infer/backend-choice.js';
import { nativeAvailable, probeNative } from '../../../agent/infer/native-backend.js';
import { FieldmeshError } from '../../../protocol/errors.js';

const HERE = { available: true } as const;
const ARMV7 = {
  available: false,
  reason: 'onnxruntime-node publishes no build for 32-bit ARM (armv7)',
} as const;

describe('chooseBackend', () => {
  it.each<[BackendSetting, boolean, 'native' | 'wasm']>([
    ['auto', true, 'native'],
    ['auto', false, 'wasm'],
    ['wasm', true, 'wasm'],
    ['wasm', false, 'wasm'],
    ['native', true, 'native'],
  ])('%s with native available=%s runs on %s', (setting, available, expected) => {
    expect(chooseBackend('m', setting, available ? HERE : ARMV7)).toBe(expected);
  });

  it('refuses native where it cannot load, naming the model, the platform, the reason and the fix', () => {
    let err: unknown;
    try {
      chooseBackend('vibration-ae', 'native', ARMV7);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NativeBackendUnavailableError);
    expect(err).toBeInstanceOf(FieldmeshError);
    expect((err as FieldmeshError).code).toBe('MODEL_BACKEND_UNAVAILABLE');
    const message = (err as Error).message;
    expect(message).toContain('model "vibration-ae"');
    expect(message).toContain(`no native onnxruntime for ${process.platform}/${process.arch}`);
    expect(message).toContain('no build for 32-bit ARM');
    expect(message).toContain('set backend: wasm (or auto');
  });
});

describe('probeNative', () => {
  it('answers no for 32-bit ARM without trying to load the binary', async () => {
    let tried = false;
    const probe = await probeNative('arm', async () => {
      tried = true;
    });
    expect(probe).toEqual({ available: false, reason: expect.stringContaining('armv7') });
    expect(tried).toBe(false);
  });

  it('answers no, with the first line of the loader error, when the binary does not load', async () => {
    const probe = await probeNative('arm64', () =>
      Promise.reject(new Error('Cannot find module onnxruntime_binding.node\nRequire stack: …')),
    );
    expect(probe).toEqual({
      available: false,
      reason: 'onnxruntime-node did not load: Cannot find module onnxruntime_binding.node',
    });
  });

  it('answers yes on this machine, once per process', async () => {
    expect(await probeNative()).toEqual({ available: true });
    const first = nativeAvailable();
    expect(nativeAvailable()).toBe(first);
    expect(await first).toEqual({ available: true });
  });
});

describe('models[].backend in the config', () => {
  const load = (model: Record<string, unknown>) =>
    validateConfig({ models: [{ id: 'm', manifest: 'm.json', ...model }] }, 'test.yaml', { env: {} });

  it('defaults to auto and accepts native and wasm', () => {
    expect(load({}).models[0]?.backend).toBe('auto');
    expect(load({ backend: 'native' }).models[0]?.backend).toBe('native');
    expect(load({ backend: 'wasm' }).models[0]?.backend).toBe('wasm');
  });

  it('refuses any other backend, naming the field', () => {
    expect(() => load({ backend: 'gpu' })).toThrow(/models\.0\.backend|models\[0\]\.backend/);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import { type ModelCall, ModelSlot, type SwapLimits } from '../../../agent/infer/model-slot.js';
import { numericData } from '../../../agent/infer/postprocess.js';
import { quietLogger } from '../../helpers/broker.js';
import { failsOnDataModel, type SwapFixture, scaledModel, slowModel } from '../../models/swap-fixtures.js';

const W = 32;
let dir: string;
let v1: SwapFixture;
let v2: SwapFixture;
let broken: SwapFixture;
let slow: SwapFixture;
const slots: ModelSlot[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fm-slot-'));
  const at = (name: string) => ({ dir, manifestPath: path.join(dir, `${name}.json`), id: 'vib', window: W });
  v1 = await scaledModel({ ...at('v1'), version: '1.0.0', factor: 1 });
  v2 = await scaledModel({ ...at('v2'), version: '2.0.0', factor: 10 });
  broken = await failsOnDataModel({ ...at('broken'), version: '3.0.0' });
  slow = await slowModel({ ...at('slow'), version: '4.0.0' });
});

afterEach(async () => {
  await Promise.all(slots.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function load(f: SwapFixture): Promise<ModelRuntime> {
  return ModelRuntime.load(
    {
      id: 'vib',
      manifest: f.manifestPath,
      threads: 1,
      memoryArena: true,
      warmupRuns: 1,
      worker: false,
      backend: 'native',
    },
    { logger: quietLogger },
  );
}

async function slot(limits: Partial<SwapLimits> = {}): Promise<ModelSlot> {
  const s = new ModelSlot(
    await load(v1),
    { probationCalls: 5, maxErrorRate: 0, maxLatencyRatio: 3, ...limits },
    { logger: quietLogger },
  );
  slots.push(s);
  return s;
}

/** One window of W readings, all `value` (mean square = value²). */
function call(s: ModelSlot, value: number): Promise<ModelCall> {
  return s.call(1, () => new Float32Array(W).fill(value));
}

function score(c: ModelCall): number {
  const t = c.outputs.score;
  if (t === undefined) throw new Error('no score output');
  return Number(numericData(t)[0]);
}

describe('a model slot swapping versions while calls run (real onnxruntime)', () => {
  it('sends calls to the new version at once and releases the previous one after its probation', async () => {
    const s = await slot({ probationCalls: 5 });
    const previous = s.current;
    expect(score(await call(s, 0.5))).toBeCloseTo(0.25, 6);
    const record = s.offer(await load(v2), []);
    expect(record).toMatchObject({
      outcome: 'probation',
      from: { version: '1.0.0' },
      to: { version: '2.0.0' },
    });
    expect(s.loaded()).toHaveLength(2);
    for (let i = 0; i < 5; i++) {
      const c = await call(s, 0.5);
      expect(c.model.manifest.version).toBe('2.0.0');
      expect(score(c)).toBeCloseTo(2.5, 5);
    }
    expect(s.history().at(-1)).toMatchObject({ outcome: 'committed', calls: 5, failures: 0 });
    expect(s.loaded()).toEqual([s.current]);
    // Released: its session is closed.
    await expect(previous.run(new Float32Array(W), 1)).rejects.toThrow();
  });

  it('runs a call the new version fails on the previous one, and rolls back past the error limit', async () => {
    const s = await slot({ probationCalls: 20, maxErrorRate: 0.1 }); // two failures allowed
    s.offer(await load(broken), []);
    // First reading 0.5 runs on the new version; 5 makes onnxruntime refuse it.
    expect((await call(s, 0.5)).model.manifest.version).toBe('3.0.0');
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await call(s, 5);
      outcomes.push(c.model.manifest.version);
      expect(score(c)).toBeCloseTo(25, 4); // no window lost: the previous version scored it
    }
    expect(outcomes).toEqual(['1.0.0', '1.0.0', '1.0.0']);
    const last = s.history().at(-1);
    expect(last).toMatchObject({ outcome: 'rolled_back', calls: 4, failures: 3 });
    expect(last?.reason).toBe('3 of its first 4 calls failed (limit 2 in 20)');
    expect(s.current.manifest.version).toBe('1.0.0');
    expect((await call(s, 0.5)).model.manifest.version).toBe('1.0.0');
  });

  it('rolls back a version whose time per window is past the limit at the end of probation', async () => {
    const s = await slot({ probationCalls: 10, maxLatencyRatio: 3 });
    for (let i = 0; i < 20; i++) await call(s, 0.5); // the running version's time per window
    s.offer(await load(slow), []);
    for (let i = 0; i < 10; i++) expect(score(await call(s, 0.5))).toBeCloseTo(0.25, 5);
    const last = s.history().at(-1);
    expect(last?.outcome).toBe('rolled_back');
    expect(last?.reason).toMatch(/^\d+ µs per window, [\d.]+× the previous version's \d+ µs \(limit 3×\)$/);
    expect(s.current.manifest.version).toBe('1.0.0');
  });

  it('refuses a version that does not fit and keeps the running one', async () => {
    const s = await slot();
    const candidate = await load(v2);
    const record = s.offer(candidate, ['pipeline "p": window.size 16 does not fit']);
    expect(record).toMatchObject({ outcome: 'refused', reason: 'pipeline "p": window.size 16 does not fit' });
    expect(s.current.manifest.version).toBe('1.0.0');
    expect(s.loaded()).toHaveLength(1);
    await expect
      .poll(() =>
        candidate.run(new Float32Array(W), 1).then(
          () => 'open',
          () => 'closed',
        ),
      )
      .toBe('closed');
  });

  it('lets a newer version replace one in probation, keeping the version before both as the fallback', async () => {
    const s = await slot({ probationCalls: 50, maxErrorRate: 0.5 });
    s.offer(await load(broken), []);
    s.offer(await load(v2), []);
    expect(s.history().map((r) => r.outcome)).toEqual(['rolled_back', 'probation']);
    expect(s.loaded().map((m) => m.manifest.version)).toEqual(['2.0.0', '1.0.0']);
    expect((await call(s, 5)).model.manifest.version).toBe('2.0.0');
  });

  it('finishes a call in flight on the previous version before releasing it', async () => {
    const s = await slot({ probationCalls: 1 });
    const inFlight = s.call(64, () => new Float32Array(64 * W).fill(0.5)); // starts on 1.0.0
    s.offer(await load(v2), []);
    await call(s, 0.5); // the one probation call: 2.0.0 is kept, 1.0.0 released once idle
    const c = await inFlight;
    expect(c.model.manifest.version).toBe('1.0.0');
    expect(score(c)).toBeCloseTo(0.25, 6);
  });
});

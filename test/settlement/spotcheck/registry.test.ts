import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadModelFile } from '../../../models/manifest.js';
import { hasCode } from '../../../protocol/errors.js';
import { ModelRegistry } from '../../../settlement/spotcheck/registry.js';
import { EXAMPLE_MANIFESTS } from '../../helpers/spotcheck.js';

const logger = pino({ level: 'silent' });
const [VIBRATION, TEMPERATURE] = EXAMPLE_MANIFESTS as [string, string];

let dir: string;
let registries: ModelRegistry[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fieldmesh-registry-'));
  registries = [];
});

afterEach(async () => {
  await Promise.all(registries.map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
});

async function load(paths: string[]) {
  const result = await ModelRegistry.fromManifests(paths, { logger });
  registries.push(result.registry);
  return result;
}

/** A copy of the vibration model whose .onnx no longer matches its manifest. */
async function tamperedManifest(): Promise<string> {
  const manifest = join(dir, 'manifest.json');
  await copyFile(VIBRATION, manifest);
  await writeFile(join(dir, 'model.onnx'), 'not the model');
  return manifest;
}

describe('ModelRegistry.fromManifests', () => {
  it('registers the example models by the sha256 of their .onnx bytes', async () => {
    const { registry, problems } = await load(EXAMPLE_MANIFESTS);
    expect(problems).toEqual([]);
    const vibration = await loadModelFile(VIBRATION);
    expect(registry.has(vibration.sha256)).toBe(true);
    expect(registry.has(vibration.sha256.toUpperCase())).toBe(true);
    const entry = registry.get(vibration.sha256)!;
    expect(entry).toMatchObject({ id: 'vibration-ae', windowSize: 32, batchable: true });
    expect(entry.plan.window.name).toBe('window');
    expect(entry.inputShape).toBe('["N", 32]');
    expect(entry.plan.dims(5)).toEqual([5, 32]);
    expect(
      registry
        .list()
        .map((m) => m.id)
        .sort(),
    ).toEqual(['temperature-ae', 'vibration-ae']);
    expect(registry.get('00'.repeat(32))).toBeUndefined();
  });

  it('refuses a bad manifest, naming its file, and still loads the others', async () => {
    const bad = await tamperedManifest();
    const missing = join(dir, 'nope', 'manifest.json');
    const { registry, problems } = await load([bad, TEMPERATURE, missing]);
    expect(registry.list().map((m) => m.id)).toEqual(['temperature-ae']);
    expect(problems.map((p) => p.manifestPath)).toEqual([bad, missing]);
    expect(hasCode(problems[0]!.error, 'MODEL_REGISTRY_REFUSED')).toBe(true);
    expect(problems[0]!.error.message).toContain(bad);
    expect(problems[0]!.error.message).toMatch(/does not match its manifest/);
    expect(problems[1]!.error.message).toMatch(/no such manifest file/);
  });
});

describe('ModelRegistry.register', () => {
  it('refuses bytes other than the ones the manifest names', async () => {
    const registry = new ModelRegistry({ logger });
    const file = await loadModelFile(VIBRATION);
    const other = await loadModelFile(TEMPERATURE);
    expect(() => registry.register(other.bytes, { id: 'x', manifest: file.manifest })).toThrow(
      /the bytes have sha256 .* but the manifest names/,
    );
    const entry = registry.register(file.bytes, { id: file.manifest.id, manifest: file.manifest });
    expect(registry.register(file.bytes, { id: 'again', manifest: file.manifest })).toBe(entry);
  });

  it('creates one session lazily, shares it, and runs windows in one call', async () => {
    const { registry } = await load([VIBRATION]);
    const entry = registry.list()[0]!;
    const [a, b] = await Promise.all([entry.session(), entry.session()]);
    expect(a).toBe(b);
    const out = await entry.run(new Float32Array(3 * 32), 3);
    expect(Object.keys(out).sort()).toEqual(['reconstruction', 'score']);
    expect(out.score!.dims).toEqual([3]);
    await registry.close();
    const again = await entry.session();
    expect(again).not.toBe(a);
  });
});

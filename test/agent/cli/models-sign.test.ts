import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const EXAMPLE = path.resolve('models/examples/temperature-ae');
let dir: string;
let manifest: string;

/** The id `fieldmesh keys create` printed for a fresh publisher key in `keyDir`. */
async function createKey(keyDir: string): Promise<string> {
  const run = await runCli(['keys', 'create', '--data-dir', keyDir, '--json']);
  expect(run.code).toBe(0);
  return (JSON.parse(run.stdout) as { nodeId: string }).nodeId;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fm-sign-'));
  await copyFile(path.join(EXAMPLE, 'model.onnx'), path.join(dir, 'model.onnx'));
  manifest = path.join(dir, 'manifest.json');
  await copyFile(path.join(EXAMPLE, 'manifest.json'), manifest);
});

describe('fieldmesh models sign / verify', () => {
  it('signs a manifest with a publisher key, and verify names the publisher', async () => {
    const publisher = await createKey(path.join(dir, 'publisher'));
    const sign = await runCli([
      'models',
      'sign',
      manifest,
      '--key-dir',
      path.join(dir, 'publisher'),
      '--name',
      'QA lab',
    ]);
    expect(sign.stderr).toBe('');
    expect(sign.code).toBe(0);
    expect(sign.stdout).toContain(`signed ${manifest} as ${publisher} (QA lab)`);
    expect(JSON.parse(await readFile(manifest, 'utf8')).publisher).toMatchObject({
      id: publisher,
      name: 'QA lab',
    });

    const verify = await runCli(['models', 'verify', manifest, '--publisher', publisher]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^ok {8}temperature-ae \d+\.\d+\.\d+/);
    expect(verify.stdout).toContain(`publisher signed by ${publisher} (QA lab)`);
    const json = await runCli(['models', 'verify', manifest, '--json']);
    expect(JSON.parse(json.stdout).publisher).toEqual({ state: 'signed', id: publisher, name: 'QA lab' });
  });

  it('fails verify with exit 5 and the reason for another publisher and for a changed manifest', async () => {
    const other = await createKey(path.join(dir, 'other'));
    const wrong = await runCli(['models', 'verify', manifest, '--publisher', other]);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toContain('who is not listed');

    const tampered = path.join(dir, 'tampered.json');
    const m = JSON.parse(await readFile(manifest, 'utf8'));
    m.postprocessing.threshold = 99;
    await writeFile(tampered, JSON.stringify(m));
    const forged = await runCli(['models', 'verify', tampered]);
    expect(forged.code).toBe(5);
    expect(forged.stderr).toContain('the publisher signature does not hold');
    expect(forged.stderr).not.toMatch(/\n\s+at /); // a reason, not a stack trace
  });

  it('refuses to sign a manifest whose .onnx does not match it, and asks for a key first', async () => {
    const bad = path.join(dir, 'other-digest.json');
    const m = JSON.parse(await readFile(path.join(EXAMPLE, 'manifest.json'), 'utf8'));
    m.sha256 = '00'.repeat(32);
    await writeFile(bad, JSON.stringify(m));
    const run = await runCli(['models', 'sign', bad, '--key-dir', path.join(dir, 'publisher')]);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('0'.repeat(64));
    expect(JSON.parse(await readFile(bad, 'utf8')).publisher).toBeUndefined();

    const noKey = await runCli(['models', 'sign', manifest]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('--key-dir');
  });

  it('re-signs a manifest whose threshold was changed after signing, so it verifies again', async () => {
    const edited = path.join(dir, 'edited.json');
    const m = JSON.parse(await readFile(manifest, 'utf8'));
    m.postprocessing.threshold *= 1.1;
    await writeFile(edited, JSON.stringify(m));
    expect((await runCli(['models', 'verify', edited])).code).toBe(5);
    const sign = await runCli(['models', 'sign', edited, '--key-dir', path.join(dir, 'publisher')]);
    expect(sign.code).toBe(0);
    const verify = await runCli(['models', 'verify', edited]);
    expect(verify.code).toBe(0);
    expect(JSON.parse(await readFile(edited, 'utf8')).postprocessing.threshold).toBe(
      m.postprocessing.threshold,
    );
  });
});

import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../../helpers/broker.js';
import { withTimeout } from '../../helpers/wait-for.js';
import { runCli } from './run-cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-cli-'));
});

describe('fieldmesh command line', () => {
  it('lists its commands and exit codes on --help, and exits 2 on an unknown command', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['agent', 'broker', 'demo', 'keys', 'models']) expect(help.stdout).toContain(cmd);
    expect(help.stdout).toContain('Exit codes');
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const badFlag = await runCli(['agent', '--confg', 'x.yaml']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('fieldmesh agent --help');
  });

  it('creates a node key once, with mode 0600, and shows the same id afterwards', async () => {
    const dir = path.join(work, 'keys');
    const none = await runCli(['keys', 'show', '--data-dir', dir]);
    expect(none.code).toBe(5);
    expect(none.stderr).toContain('fieldmesh keys create');
    const created = await runCli(['keys', 'create', '--data-dir', dir, '--json']);
    expect(created.code).toBe(0);
    const first = JSON.parse(created.stdout) as { nodeId: string; file: string; created: boolean };
    expect(first.created).toBe(true);
    expect(first.nodeId).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/);
    expect((await stat(first.file)).mode & 0o777).toBe(0o600);
    const again = JSON.parse(
      (await runCli(['keys', 'create', '--data-dir', dir, '--json'])).stdout,
    ) as typeof first;
    expect(again).toMatchObject({ nodeId: first.nodeId, created: false });
    const shown = await runCli(['keys', '--data-dir', dir]);
    expect(shown.stdout).toContain(first.nodeId);
  });

  it('refuses a damaged key file instead of replacing the identity', async () => {
    const dir = path.join(work, 'damaged');
    await runCli(['keys', 'create', '--data-dir', dir]);
    await writeFile(path.join(dir, 'node-key.json'), '{"type":"ed25519","se');
    const run = await runCli(['keys', 'create', '--data-dir', dir]);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('node-key.json: not JSON');
  });

  it('inspects an ONNX model: inputs, outputs, opset and the sha256 its manifest carries', async () => {
    const run = await runCli(['models', 'inspect', 'models/examples/vibration-ae/model.onnx', '--json']);
    expect(run.code).toBe(0);
    const info = JSON.parse(run.stdout) as {
      sha256: string;
      inputs: { name: string; shape: unknown[] }[];
      opsets: unknown[];
    };
    const manifest = JSON.parse(await readFile('models/examples/vibration-ae/manifest.json', 'utf8')) as {
      sha256: string;
    };
    expect(info.sha256).toBe(manifest.sha256);
    expect(info.inputs[0]).toMatchObject({ name: 'window', shape: ['N', 32] });
    expect(info.opsets.length).toBeGreaterThan(0);
    const text = await runCli(['models', 'inspect', 'models/examples/vibration-ae/model.onnx']);
    expect(text.stdout).toMatch(/window\s+float32\s+\[N, 32\]/);
  });

  it('exits 5 with a clear message on a file that is not ONNX', async () => {
    const file = path.join(work, 'notes.onnx');
    await writeFile(file, 'this is not a model\n');
    const run = await runCli(['models', 'inspect', file]);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain(file);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace for an operator
  });

  it('exits 3 and names every bad field of an invalid configuration', async () => {
    const file = path.join(work, 'bad.yaml');
    await writeFile(
      file,
      'mqtt:\n  keepaliveS: soon\npipelines:\n  - id: press\n    model: nope\n    input: { topic: "a/#/b" }\n',
    );
    const run = await runCli(['agent', '--config', file]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(file);
    expect(run.stderr).toContain('mqtt.keepaliveS: found "soon"; expected a number');
    expect(run.stderr).toContain('pipelines[0].model');
    expect(run.stderr).toContain('pipelines[0].input.topic');
    expect((await runCli(['agent', '--config', path.join(work, 'missing.yaml')])).code).toBe(3);
  });

  it('exits 4 with the broker URL when the broker cannot be reached', async () => {
    const port = await closedPort();
    const file = path.join(work, 'unreachable.yaml');
    await writeFile(
      file,
      `node: { dataDir: ${JSON.stringify(path.join(work, 'data'))} }\nlog: { level: silent }\nmqtt: { url: "mqtt://127.0.0.1:${port}", connectTimeoutMs: 1500 }\n`,
    );
    const run = await runCli(['agent', '--config', file]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(`mqtt://127.0.0.1:${port}`);
  });
});

describe('fieldmesh agent lifecycle', () => {
  it('runs with an embedded broker until SIGTERM, then stops cleanly with exit code 0', async () => {
    const { spawn } = await import('node:child_process');
    const file = path.join(work, 'embedded.yaml');
    await writeFile(
      file,
      [
        `node: { dataDir: ${JSON.stringify(path.join(work, 'embedded-data'))} }`,
        'log: { level: info }',
        'broker: { enabled: true, port: 0 }',
        'api: { port: 0 }',
        `models: [{ id: vibration-ae, manifest: ${JSON.stringify(path.resolve('models/examples/vibration-ae/manifest.json'))} }]`,
        'pipelines: [{ id: vib, model: vibration-ae, input: { topic: "plant/+/vibration", field: value } }]',
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [path.resolve('bin/fieldmesh.js'), 'agent', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('agent ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`agent exited early with ${code}: ${out}`)));
    });
    await withTimeout(ready, 'the agent to be ready', 20_000);
    child.removeAllListeners('exit');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await withTimeout(exited, 'the agent to exit', 10_000)).toBe(0);
    expect(out).toContain('pipeline stopped');
  });
});

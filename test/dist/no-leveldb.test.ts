import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTimeout } from '../helpers/wait-for.js';
import { extractArmv7Bundle, runProgram } from './artifacts.js';

/*
 * A machine where LevelDB's native binding cannot load, as on OpenWrt (musl libc on ARM, for
 * which classic-level ships no build). The armv7 bundle run by this host's own node is one:
 * it carries only the linux-arm binding. Everything but LevelDB is JavaScript or WebAssembly
 * there, so the agent must run its broker and pipelines and refuse only what needs the store.
 */
let top: string;
let dir: string;

beforeAll(async () => {
  ({ dir, top } = await extractArmv7Bundle());
});

/** An agent with its own broker, one pipeline on WebAssembly, and `extra` merged in. */
async function writeConfig(name: string, extra: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  const broker = {
    enabled: true,
    host: '127.0.0.1',
    port: 0,
    auth: { allowAnonymous: true },
    storage: 'memory',
  };
  const config = {
    node: { name, dataDir: path.join(dir, `data-${name}`) },
    api: { port: 0 },
    broker: { ...broker, ...(extra.broker as object | undefined) },
    models: [
      {
        id: 'temperature-ae',
        manifest: path.join(top, 'lib/app/models/examples/temperature-ae/manifest.json'),
        backend: 'wasm',
        threads: 1,
        warmupRuns: 1,
      },
    ],
    pipelines: [
      {
        id: 'rooms',
        model: 'temperature-ae',
        input: { topic: 'rooms/+/temperature', format: 'number', sensor: { from: 'level', level: 1 } },
      },
    ],
    ...(extra.settlement === undefined ? {} : { settlement: extra.settlement }),
  };
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

const env = () => ({ HOME: dir, FIELDMESH_NODE: process.execPath });

describe('the armv7 bundle where LevelDB has no binding', () => {
  it('runs its broker and pipelines with receipts configured, and names the part it refused', async () => {
    const config = await writeConfig('receipts', {
      settlement: { url: 'http://127.0.0.1:9', servicePublicKey: 'ab'.repeat(32) },
    });
    const agent = spawn(path.join(top, 'bin/fieldmesh'), ['agent', '--config', config], {
      env: { ...process.env, ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    agent.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    agent.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = () => (out.includes('agent ready') ? resolve() : setTimeout(check, 50));
        check();
      }),
      'the agent to be ready',
      60_000,
    );
    agent.kill('SIGTERM');
    expect(await withTimeout(exited, 'the agent to stop', 20_000)).toBe(0);
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const refused = lines.find((l) => l.msg === 'receipts refused');
    expect(refused?.code).toBe('LEVELDB_UNAVAILABLE');
    expect(refused?.message).toMatch(/receipt outbox.*LevelDB.*linux-x64.*remove the settlement section/);
    const ready = lines.find((l) => l.msg === 'agent ready');
    expect(ready).toMatchObject({ pipelines: 1, failures: 1 });
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
  }, 90_000);

  it('refuses disk storage for its broker with exit code 4 and what to set instead', async () => {
    const config = await writeConfig('disk', { broker: { storage: 'disk' } });
    const run = await runProgram(path.join(top, 'bin/fieldmesh'), ['agent', '--config', config], {
      env: env(),
      timeoutMs: 60_000,
    });
    expect(run.code).toBe(4);
    expect(run.stdout + run.stderr).toMatch(/disk storage.*LevelDB.*set broker\.storage to memory/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 90_000);
});

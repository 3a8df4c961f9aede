import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const tmp = () => mkdtemp(path.join(tmpdir(), 'fm-settlement-cli-'));

describe('fieldmesh settlement', () => {
  it('explains itself', async () => {
    const run = await runCli(['settlement', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--model MANIFEST[=N]');
    expect(run.stdout).toContain('--database-url');
  });

  it('refuses bad options with exit 2 and says which', async () => {
    const port = await runCli(['settlement', '--port', '70000']);
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port takes a whole number from 0 to 65535');
    const share = await runCli(['settlement', '--spot-check-percent', '150']);
    expect(share.code).toBe(2);
    expect(share.stderr).toContain('at most 100');
    const credit = await runCli(['settlement', '--model', 'm.json=-1']);
    expect(credit.code).toBe(2);
    expect(credit.stderr).toContain('whole number');
  });

  it('exits 4 with a sentence, not a stack trace, when its port is taken', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const run = await runCli(['settlement', '--port', String(port), '--data-dir', await tmp()], {
        timeoutMs: 30_000,
      });
      expect(run.code).toBe(4);
      expect(run.stderr).toMatch(/SETTLEMENT_START_FAILED.*cannot listen on 127\.0\.0\.1:\d+/);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
    }
  });

  it('serves with the models it could load, names the one it could not, and stops cleanly', async () => {
    const good = path.resolve('models/examples/vibration-ae/manifest.json');
    const child = spawn(
      process.execPath,
      [
        'bin/fieldmesh.js',
        'settlement',
        '--port',
        '0',
        '--data-dir',
        await tmp(),
        '--model',
        `${good}=3`,
        '--model',
        '/nonexistent/manifest.json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const listening = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening in 30 s:\n${out}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const url = /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1];
        if (url && out.includes('settlement service listening')) {
          clearTimeout(timer);
          resolve(url);
        }
      });
    });
    const url = await listening;
    const service = (await (await fetch(`${url}/v1/service`)).json()) as { peerId: string };
    expect(service.peerId).toMatch(/^12D3KooW/);
    expect(out).toMatch(/model not registered.*nonexistent|nonexistent.*model not registered/);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

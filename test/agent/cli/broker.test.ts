import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../../broker/credentials.js';
import { connectTestClient } from '../../helpers/broker.js';
import { withTimeout } from '../../helpers/wait-for.js';
import { runCli } from './run-cli.js';

const BIN = path.resolve('bin/fieldmesh.js');
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-cli-broker-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('fieldmesh broker', () => {
  it('serves device accounts from a credentials file and refuses everyone else', async () => {
    const passwd = path.join(work, 'passwd');
    await writeFile(passwd, `press-1:${await hashPassword('s3cret')}\n`);
    const child = spawn(
      process.execPath,
      [BIN, 'broker', '--port', '0', '--credentials', passwd, '--storage', 'memory', '--data-dir', work],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      let out = '';
      const url = await withTimeout(
        new Promise<string>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            const m = /"urls":\["(mqtt:\/\/[^"]+)"/.exec(out);
            if (m?.[1]) resolve(m[1]);
          });
          child.once('exit', (code) => reject(new Error(`broker exited with ${code}: ${out}`)));
        }),
        'the broker to listen',
        15_000,
      );
      const press = await connectTestClient(url, {
        clientId: 'press-1',
        username: 'press-1',
        password: 's3cret',
      });
      await press.endAsync();
      const refused = await new Promise<number>((resolve) => {
        const { hostname, port } = new URL(url);
        const c = new MqttClient(() => net.connect({ host: hostname, port: Number(port) }), {
          clientId: 'anon',
          reconnectPeriod: 0,
          protocolVersion: 4,
        });
        c.once('connect', () => resolve(0));
        c.once('error', (err) => {
          c.end(true);
          resolve(Number((err as { code?: number }).code));
        });
      });
      expect(refused).toBe(5);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await withTimeout(exited, 'the broker to exit', 10_000)).toBe(0);
    }
  });

  it('refuses bad settings with the exit code and a message that names what to fix', async () => {
    const missing = path.join(work, 'no-such-passwd');
    const noFile = await runCli(['broker', '--port', '0', '--credentials', missing, '--data-dir', work]);
    expect(noFile.code).toBe(5);
    expect(noFile.stderr).toContain(`fieldmesh broker passwd ${missing} USER`);

    // Disk storage lives in <data-dir>/broker: a file in its place stops the start, and says so.
    const dataDir = path.join(work, 'blocked');
    await mkdir(dataDir);
    await writeFile(path.join(dataDir, 'broker'), 'a file where the broker wants its directory');
    const blocked = await runCli(['broker', '--port', '0', '--allow-anonymous', '--data-dir', dataDir]);
    expect(blocked.code).toBe(4);
    expect(blocked.stderr).toContain(path.join(dataDir, 'broker'));

    const bad = await runCli(['broker', '--storage', 'tape', '--data-dir', work]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--storage is tape; use disk, memory or redis');
  });
});

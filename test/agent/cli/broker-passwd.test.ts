import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, parseCredentials, verifyPassword } from '../../../broker/credentials.js';
import { runProgram } from '../../helpers/run-program.js';
import type { CliRun } from './run-cli.js';

const BIN = path.resolve('bin/fieldmesh.js');
const dist = (file: string) => JSON.stringify(pathToFileURL(path.resolve('dist', file)).href);

/**
 * Until `broker passwd` is dispatched by `fieldmesh broker`, the command module is run on its
 * own, from the same build, with the error handling of the CLI's boundary (agent/cli/main.ts).
 */
const LAUNCHER = `
const { brokerPasswdCommand } = await import(${dist('agent/cli/commands/broker-passwd.js')});
const { FieldmeshError } = await import(${dist('protocol/errors.js')});
const { exitCodeFor } = await import(${dist('agent/cli/exit-codes.js')});
try {
  process.exitCode = await brokerPasswdCommand(process.argv.slice(1));
} catch (err) {
  if (!(err instanceof FieldmeshError)) throw err;
  process.stderr.write('error [' + err.code + ']: ' + err.message + '\\n');
  process.exitCode = exitCodeFor(err.code);
}`;

let viaBin = false;

/** `fieldmesh broker passwd ARGS`, with `input` (default: nothing) piped to its standard input. */
function passwd(args: string[], input?: string): Promise<CliRun> {
  const argv = viaBin
    ? [BIN, 'broker', 'passwd', ...args]
    : ['--input-type=module', '-e', LAUNCHER, '--', ...args];
  return runProgram(process.execPath, argv, { env: process.env, input: input ?? '', timeoutMs: 20_000 });
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-passwd-'));
  const help = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'broker', 'passwd', '--help'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', () => resolve(out));
  });
  viaBin = help.includes('fieldmesh broker passwd FILE USER');
});

const noStack = /\n\s+at /;

describe('fieldmesh broker passwd', () => {
  it('prints its help', async () => {
    const run = await passwd(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('fieldmesh broker passwd FILE USER [--delete] [--password-stdin]');
    expect(run.stdout).toContain('Exit codes');
  });

  it('adds, updates and deletes users, keeping comments and other lines, mode 0600', async () => {
    const file = path.join(work, 'broker.passwd');
    const added = await passwd([file, 'plc-7', '--password-stdin'], 'first-pw\n');
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toContain(`added user "plc-7" in ${file}`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const stored = parseCredentials(await readFile(file, 'utf8'), file).get('plc-7')!;
    expect(await verifyPassword(stored.hash, 'first-pw')).toBe(true);
    expect(await verifyPassword(stored.hash, 'first-pw\n')).toBe(false);

    const other = `vib-2:${await hashPassword('other')}`;
    await writeFile(file, `# site north, sensors\n${await readFile(file, 'utf8')}\n# spare\n${other}\n`);
    const updated = await passwd([file, 'plc-7', '--password-stdin'], 'second-pw');
    expect(updated.code).toBe(0);
    expect(updated.stdout).toContain('updated user "plc-7"');
    const lines = (await readFile(file, 'utf8')).split('\n');
    expect(lines[0]).toBe('# site north, sensors');
    expect(lines[1]).toMatch(/^plc-7:\$fm-scrypt\$/);
    expect(lines.slice(2)).toEqual(['', '# spare', other, '']);
    const users = parseCredentials(lines.join('\n'), file);
    expect(await verifyPassword(users.get('plc-7')!.hash, 'second-pw')).toBe(true);
    expect(await verifyPassword(users.get('plc-7')!.hash, 'first-pw')).toBe(false);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const deleted = await passwd([file, 'plc-7', '--delete']);
    expect(deleted.code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe(`# site north, sensors\n\n# spare\n${other}\n`);
    const again = await passwd([file, 'plc-7', '--delete']);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain(`${file} has no user "plc-7"; nothing deleted`);
    // No temporary files left beside it.
    expect(await readdir(work)).toEqual(['broker.passwd']);
  });

  it('refuses empty passwords, and a missing password when stdin is no terminal', async () => {
    const file = path.join(work, 'refused.passwd');
    const empty = await passwd([file, 'plc-7', '--password-stdin'], '\n');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('the password is empty');
    const noTty = await passwd([file, 'plc-7']);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('standard input is not a terminal');
    expect(noTty.stderr).toContain('--password-stdin');
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('exits 2 on a wrong command line', async () => {
    const file = path.join(work, 'usage.passwd');
    for (const [args, message] of [
      [[file], 'expected FILE and USER'],
      [[file, 'a', 'b'], 'expected FILE and USER'],
      [[file, 'bad:name', '--password-stdin'], 'contains ":", whitespace'],
      [[file, 'a', '--delete', '--password-stdin'], '--delete takes no password'],
      [[file, 'a', '--pasword-stdin'], 'fieldmesh broker passwd --help'],
    ] as const) {
      const run = await passwd([...args], 'pw\n');
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toContain(message);
      expect(run.stderr).not.toMatch(noStack);
    }
  });

  it('exits 5 on a damaged file, naming the line, and leaves it untouched', async () => {
    const file = path.join(work, 'damaged.passwd');
    const text = `# ok\nplc-7:$2y$10$bcrypt-from-mosquitto\n`;
    await writeFile(file, text);
    const run = await passwd([file, 'vib-2', '--password-stdin'], 'pw\n');
    expect(run.code).toBe(5);
    expect(run.stderr).toContain(`${file}:2: user "plc-7": unknown password scheme "2y"`);
    expect(run.stderr).toContain(`fieldmesh broker passwd ${file} plc-7`);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).not.toMatch(noStack);
    expect(await readFile(file, 'utf8')).toBe(text);
  });
});

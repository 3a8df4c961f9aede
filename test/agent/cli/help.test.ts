import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const PLAIN = { FORCE_COLOR: undefined, NO_COLOR: undefined };
const ESC = '\u001b';
const COMMANDS = [
  'agent',
  'broker',
  'calibrate',
  'demo',
  'keys',
  'mesh',
  'models',
  'receipts',
  'settlement',
  'status',
  'version',
];

describe('fieldmesh version', () => {
  it('names the build, the Node runtime and the flags it runs with', async () => {
    const [plain, json, bad] = await Promise.all([
      runCli(['version'], { env: PLAIN }),
      runCli(['version', '--json'], { env: PLAIN }),
      runCli(['version', '--verbose'], { env: PLAIN }),
    ]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(
      /^fieldmesh \d+\.\d+\.\d+\nnode v\d+\.\d+\.\d+ on linux-\w+, flags: \(none\)\n$/,
    );
    expect(JSON.parse(json.stdout)).toEqual({
      version: plain.stdout.split('\n')[0]?.slice('fieldmesh '.length),
      node: process.version,
      platform: `linux-${process.arch}`,
      flags: [],
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('fieldmesh version: unknown option "--verbose"; it takes only --json');
  });
});

describe('fieldmesh help', () => {
  it('lists status, and every command answers --help with usage, options and exit codes', async () => {
    const top = await runCli(['--help'], { env: PLAIN });
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^ {2}status +one screen/m);
    expect(top.stdout).toContain('6  status: the node answers but is not ready');
    expect(top.stdout).not.toContain(ESC);
    const runs = await Promise.all(COMMANDS.map((c) => runCli([c, '--help'], { env: PLAIN })));
    for (const [i, run] of runs.entries()) {
      expect(run.code, COMMANDS[i]).toBe(0);
      expect(run.stdout, COMMANDS[i]).toContain(`fieldmesh ${COMMANDS[i]}`);
      expect(run.stdout, COMMANDS[i]).toContain('Options:');
      expect(run.stdout, COMMANDS[i]).toContain('Exit codes:');
    }
  });

  it('"fieldmesh help <command>" is "<command> --help"', async () => {
    const [viaHelp, viaFlag] = await Promise.all([
      runCli(['help', 'status'], { env: PLAIN }),
      runCli(['status', '--help'], { env: PLAIN }),
    ]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    const passwd = await runCli(['help', 'broker', 'passwd'], { env: PLAIN });
    expect(passwd.stdout).toContain('fieldmesh broker passwd FILE USER');
  });

  it('suggests the closest command, in plain text in a pipe and in colour when forced', async () => {
    const typo = await runCli(['statsu'], { env: PLAIN });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(
      'error [CLI_USAGE]: fieldmesh: unknown command "statsu" (did you mean status?)',
    );
    expect(typo.stderr).not.toContain(ESC);
    const prefix = await runCli(['recei'], { env: PLAIN });
    expect(prefix.stderr).toContain('did you mean receipts?');
    const far = await runCli(['frobnicate'], { env: PLAIN });
    expect(far.stderr).not.toContain('did you mean');
    const coloured = await runCli(['statsu'], { env: { FORCE_COLOR: '1' } });
    expect(coloured.stderr).toContain(ESC);
    expect(coloured.stderr).toContain('did you mean status?');
    const help = await runCli(['--help'], { env: { FORCE_COLOR: '1' } });
    expect(help.stdout).toContain(`${ESC}[1mCommands:`);
  });
});

import path from 'node:path';
import { type Run, runProgram } from '../../helpers/run-program.js';

export type CliRun = Run;

const BIN = path.resolve('bin/fieldmesh.js');

/** Runs the built `fieldmesh` command as an operator would, and collects what it printed. */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliRun> {
  return runProgram(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...opts.env },
    timeoutMs: opts.timeoutMs ?? 20_000,
  });
}

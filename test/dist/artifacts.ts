import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The release folder `npm run build:dist` fills, and what is in it. */
export const RELEASE = path.resolve('release');
export const VERSION = JSON.parse(readFileSync('package.json', 'utf8')).version as string;

export function artifact(target: 'linux-x64' | 'linux-arm64' | 'linux-armv7'): string {
  const name = `fieldmesh-${VERSION}-${target}`;
  return path.join(RELEASE, target === 'linux-armv7' ? `${name}.tar.gz` : name);
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program the way an operator would, with only the environment given (no NODE_PATH,
 * no npm variables), and collects what it printed.
 */
export function runProgram(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${command} ${args.join(' ')} did not finish in ${opts.timeoutMs} ms\n${stdout}\n${stderr}`,
        ),
      );
    }, opts.timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The last summary the demo printed, from its `fieldmesh demo:` line on. */
export function demoSummary(stdout: string): {
  results: number;
  made: number;
  acknowledged: number;
  credited: number;
  text: string;
} {
  const text = stdout.slice(stdout.lastIndexOf('fieldmesh demo:'));
  const receipts = /demo-gateway receipts made (\d+)\s+acknowledged (\d+).*credited (\d+)/.exec(text);
  return {
    results: Number(/results (\d+)/.exec(text)?.[1] ?? Number.NaN),
    made: Number(receipts?.[1] ?? Number.NaN),
    acknowledged: Number(receipts?.[2] ?? Number.NaN),
    credited: Number(receipts?.[3] ?? Number.NaN),
    text,
  };
}

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../../agent/cli/args.js';
import { modelsFetchVerb, receiptsFlushVerb } from '../../../agent/cli/commands/agent-actions.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-cli-actions-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function configWith(name: string, api: string): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, `node: { dataDir: ./data }\napi: ${api}\n`);
  return file;
}

async function usageMessage(run: Promise<number>): Promise<string> {
  const err = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UsageError);
  return (err as Error).message;
}

describe('the agent actions read the api: section of --config', () => {
  it('name their own command when the section gives no address to call', async () => {
    const anyPort = await configWith('any-port.yaml', '{ port: 0 }');
    const off = await configWith('off.yaml', '{ enabled: false }');
    expect(await usageMessage(modelsFetchVerb(['vibration-ae', '--config', anyPort]))).toMatch(
      /^fieldmesh models fetch: .*any-port\.yaml has api\.port: 0/,
    );
    expect(await usageMessage(receiptsFlushVerb(['--config', off]))).toMatch(
      /^fieldmesh receipts flush: .*off\.yaml has api\.enabled: false/,
    );
  });
});

import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIBRATION_MANIFEST } from '../../helpers/agent-process.js';
import { createLan, type NetnsLan, netnsUnavailable } from '../../helpers/netns.js';

/**
 * Models on demand: a node that has the manifest but not the .onnx fetches it by digest from a
 * peer that runs it, checks the sha256, writes it beside the manifest and loads it.
 */
const BIN = path.resolve('bin/fieldmesh.js');
const unavailable = netnsUnavailable();

describe.skipIf(unavailable !== null)(`models on demand (${unavailable ?? 'network namespaces'})`, () => {
  let lan: NetnsLan;
  let dir: string;

  beforeAll(async () => {
    lan = createLan(2);
    dir = await mkdtemp(path.join(tmpdir(), 'fm-model-fetch-'));
  });
  afterAll(async () => {
    lan?.teardown();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('fetches a missing model file from a peer and runs it', async () => {
    // Node 1 has only a copy of the manifest: its "file" names a model that is not there.
    const bare = path.join(dir, 'bare');
    await mkdir(bare);
    const manifestCopy = path.join(bare, 'manifest.json');
    await copyFile(VIBRATION_MANIFEST, manifestCopy);
    const manifest = JSON.parse(await readFile(VIBRATION_MANIFEST, 'utf8')) as {
      file: string;
      sha256: string;
    };
    const logs: Record<string, unknown>[][] = [[], []];
    for (const [i, host] of lan.hosts.entries()) {
      const file = path.join(dir, `h${i}.json`);
      await writeFile(
        file,
        JSON.stringify({
          node: { name: `h${i}`, dataDir: path.join(dir, `h${i}`) },
          broker: {
            mode: 'auto',
            priority: i === 0 ? 2 : 1,
            storage: 'memory',
            auth: { allowAnonymous: true },
          },
          mesh: {
            enabled: true,
            interface: host.address,
            queryIntervalMs: 300,
            refreshMs: 400,
            electionWaitMs: 1_000,
          },
          models: [
            { id: 'vibration-ae', manifest: i === 0 ? VIBRATION_MANIFEST : manifestCopy, warmupRuns: 1 },
          ],
        }),
      );
      const proc = lan.run(host, [process.execPath, BIN, 'agent', '--config', file]);
      proc.stderr?.resume();
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        try {
          logs[i]!.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      });
    }
    const seen = (i: number, msg: string) => logs[i]!.find((l) => l.msg === msg);
    await expect.poll(() => seen(1, 'agent ready'), { timeout: 20_000, interval: 100 }).toBeDefined();
    const fetched = seen(1, 'model fetched from a peer');
    expect(fetched).toBeDefined();
    expect(fetched?.sha256).toBe(manifest.sha256);
    const bytes = await readFile(path.join(bare, manifest.file));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.sha256);
    expect(logs[1]!.some((l) => l.msg === 'model loaded')).toBe(true);
    expect(logs[1]!.some((l) => l.msg === 'model refused' || String(l.msg).endsWith('refused'))).toBe(false);
  }, 40_000);
});

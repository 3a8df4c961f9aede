import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { indexTree } from './file-list.js';
import { RUNTIME_FLAGS } from './runtime-flags.js';
import type { AppFile, AppIndex } from './sea-unpack.js';

const run = promisify(execFile);

// The fuse string Node's single-executable support looks for (documented by Node).
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface SeaInputs {
  readonly root: string;
  /** The application folder to carry (see app-tree.ts). */
  readonly appDir: string;
  /** The target's node binary, copied and injected. */
  readonly targetNode: string;
  /** A node of the same version that runs here, to write the preparation blob. */
  readonly hostNode: string;
  readonly workDir: string;
  readonly output: string;
}

/**
 * One executable: the target's node with a preparation blob injected that holds a small
 * start-up script (sea-main.ts) and every file of the application as an asset. No code cache
 * or snapshot: both are tied to the machine that writes them, and the blob must suit another
 * architecture and stay the same bytes from build to build.
 */
export async function buildSea(inputs: SeaInputs): Promise<void> {
  const { root, workDir } = inputs;
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const mainFile = path.join(workDir, 'sea-main.cjs');
  await build({
    absWorkingDir: root,
    entryPoints: [path.join(root, 'deploy/build/sea-main.ts')],
    outfile: mainFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    legalComments: 'none',
    logLevel: 'error',
  });
  const { index, assets } = await packAssets(inputs.appDir, path.join(workDir, 'assets'));
  const indexFile = path.join(workDir, 'app.json');
  await writeFile(indexFile, JSON.stringify(index));
  assets['app.json'] = indexFile;
  const blob = path.join(workDir, 'sea.blob');
  // Relative to workDir, where the blob is written: the blob records the main script's path,
  // which must not depend on where the build ran.
  const config = {
    main: path.basename(mainFile),
    output: path.basename(blob),
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: false,
    execArgv: [...RUNTIME_FLAGS],
    // NODE_OPTIONS may add to them (an operator's heap cap, say).
    execArgvExtension: 'env',
    assets,
  };
  const configFile = path.join(workDir, 'sea-config.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  await run(inputs.hostNode, ['--experimental-sea-config', configFile], { cwd: workDir });
  await copyFile(inputs.targetNode, inputs.output);
  await chmod(inputs.output, 0o755);
  const postject = path.join(root, 'node_modules/postject/dist/cli.js');
  await run(process.execPath, [postject, inputs.output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], {
    maxBuffer: 1 << 24,
  });
}

/** Files over 64 kB that gzip shrinks by a tenth or more are carried compressed. */
async function packAssets(
  appDir: string,
  packed: string,
): Promise<{ index: AppIndex; assets: Record<string, string> }> {
  const tree = await indexTree(appDir);
  const assets: Record<string, string> = {};
  const files: AppFile[] = [];
  for (const f of tree.files) {
    const source = path.join(appDir, f.path);
    assets[`app/${f.path}`] = source;
    if (f.size < 65_536) {
      files.push(f);
      continue;
    }
    const gz = gzipSync(await readFile(source), { level: 9 });
    if (gz.length > f.size * 0.9) {
      files.push(f);
      continue;
    }
    const target = path.join(packed, `${f.path}.gz`);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, gz);
    assets[`app/${f.path}`] = target;
    files.push({ ...f, gzip: true });
  }
  return { index: { id: tree.id, files }, assets };
}

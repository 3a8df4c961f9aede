// `npm run build:dist`: the release artifacts in release/ (see README "Installing on devices").
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Progress } from '../../agent/cli/progress.js';
import { buildAppTree } from './app-tree.js';
import { buildBundle } from './bundle.js';
import { writeLicenses } from './licenses.js';
import { nodeBinary } from './node-runtime.js';
import { buildSea } from './sea.js';
import { hostTarget, TARGETS, type Target, targetByName } from './targets.js';

const HELP = `Usage: npm run build:dist -- [--target NAME]... [--out DIR]

Builds the release artifacts: a single executable for linux-x64 and linux-arm64, a bundle for
linux-armv7, and SHA256SUMS, in release/ (or --out). Node binaries are fetched once from the
npm registry into release/.cache.

  --target NAME  linux-x64, linux-arm64 or linux-armv7 (repeatable; default: all three)
  --out DIR      where the artifacts go (default: release)`;

interface DistResult {
  readonly files: readonly string[];
}

async function buildDist(root: string, targets: readonly Target[], out: string): Promise<DistResult> {
  const version = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')).version as string;
  const cache = path.join(root, 'release', '.cache');
  const work = path.join(out, '.work');
  await mkdir(out, { recursive: true });
  const hostNode = await nodeBinary(hostTarget().node, cache);
  const files: string[] = [];
  for (const target of targets) {
    const started = Date.now();
    // One redrawn line per target on a terminal (a plain start line in CI); its last line
    // is the artifact with its size, as before.
    const progress = new Progress({ label: `  ${target.name}`, total: 4, stream: process.stdout });
    const appDir = path.join(work, target.name, 'app');
    progress.update(0, { detail: 'application tree' });
    const tree = await buildAppTree(root, target, appDir);
    progress.update(1, { detail: 'licences' });
    await writeLicenses([root, ...tree.packages], path.join(appDir, 'LICENSES.txt'));
    progress.update(2, { detail: `Node ${target.node.version}` });
    const node = await nodeBinary(target.node, cache);
    const name = `fieldmesh-${version}-${target.name}`;
    progress.update(3, { detail: target.kind === 'sea' ? 'single executable' : 'bundle' });
    if (target.kind === 'sea') {
      await buildSea({
        root,
        appDir,
        targetNode: node,
        hostNode,
        workDir: path.join(work, target.name, 'sea'),
        output: path.join(out, name),
      });
      files.push(name);
    } else {
      await buildBundle({
        appDir,
        node,
        workDir: path.join(work, target.name, 'bundle'),
        name,
        output: path.join(out, `${name}.tar.gz`),
        mtime: sourceDate(root),
      });
      files.push(`${name}.tar.gz`);
    }
    const size = (await stat(path.join(out, files.at(-1) as string))).size;
    progress.finish(
      `  ${files.at(-1)}  ${(size / 1e6).toFixed(1)} MB  (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
  }
  await rm(work, { recursive: true, force: true });
  files.push(...(await copyInstaller(root, out)));
  await writeSums(out, files);
  return { files };
}

/** install.sh and the service files it installs, which it expects beside it. */
async function copyInstaller(root: string, out: string): Promise<string[]> {
  const files = ['install.sh', 'systemd/fieldmesh.service', 'openwrt/fieldmesh.init'];
  for (const f of files) {
    await mkdir(path.dirname(path.join(out, f)), { recursive: true });
    await copyFile(path.join(root, 'deploy', f), path.join(out, f));
  }
  await chmod(path.join(out, 'install.sh'), 0o755);
  return files;
}

/** The time of the last commit (or SOURCE_DATE_EPOCH), so rebuilding a commit gives the same bytes. */
function sourceDate(root: string): number {
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  try {
    return Number(execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' }).trim());
  } catch {
    return 0;
  }
}

/** SHA256SUMS lists every artifact in the folder, as `sha256sum -c` reads it. */
async function writeSums(out: string, built: readonly string[]): Promise<void> {
  const file = path.join(out, 'SHA256SUMS');
  const lines = new Map<string, string>();
  if (existsSync(file)) {
    for (const line of (await readFile(file, 'utf8')).split('\n')) {
      const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (m?.[2] !== undefined && existsSync(path.join(out, m[2]))) lines.set(m[2], line);
    }
  }
  for (const name of built) lines.set(name, `${await sha256(path.join(out, name))}  ${name}`);
  const sorted = [...lines.keys()].sort().map((k) => lines.get(k));
  await writeFile(file, `${sorted.join('\n')}\n`);
}

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const root = process.cwd();
  const targets = values.target === undefined ? TARGETS : values.target.map(targetByName);
  const out = path.resolve(values.out ?? 'release');
  process.stdout.write(`building ${targets.map((t) => t.name).join(', ')} into ${out}\n`);
  await buildDist(root, targets, out);
  process.stdout.write(`  SHA256SUMS\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`build:dist failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);

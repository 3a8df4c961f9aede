import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import type { Target } from './targets.js';

/**
 * The application folder a target runs: the CLI bundled into one ES module, the packages that
 * must stay files on disk (native bindings, WebAssembly) in a small node_modules beside it,
 * and the example configurations and models the demo uses, in the project's own layout.
 */

/** Packages left out of the bundle and shipped as files, because they load files at run time. */
const EXTERNAL = ['onnxruntime-node', 'onnxruntime-web', 'classic-level'];
/** Optional dependencies of bundled packages that are absent on purpose (each has a fallback). */
const ABSENT = ['pg-native', 'bufferutil', 'utf-8-validate'];

// An ES module has no require, __filename or __dirname; the CommonJS packages in the bundle
// use all three (for Node's own modules only).
const BANNER = [
  "import { createRequire as __fmRequire } from 'node:module';",
  "import { fileURLToPath as __fmPath } from 'node:url';",
  'const require = __fmRequire(import.meta.url);',
  'const __filename = __fmPath(import.meta.url);',
  "const __dirname = __fmPath(new URL('.', import.meta.url));",
].join('\n');

export interface AppTree {
  readonly dir: string;
  /** Folders of the packages whose code the tree holds, for the licence file. */
  readonly packages: readonly string[];
}

export async function buildAppTree(root: string, target: Target, dir: string): Promise<AppTree> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { fieldmesh: path.join(root, 'deploy/build/app-entry.ts') },
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    // Each command's code in its own chunk, loaded when that command runs: an agent never
    // parses the settlement service or PGlite.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...EXTERNAL, ...ABSENT],
    banner: { js: BANNER },
    legalComments: 'none',
    metafile: true,
    logLevel: 'error',
  });
  await copyPglite(root, result.metafile);
  const level = await shipPackages(root, target, path.join(dir, 'node_modules'));
  await copyResources(root, dir);
  const version = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')).version;
  await writeFile(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: 'fieldmesh', version, type: 'module', private: true }, null, 2)}\n`,
  );
  const shipped = [...EXTERNAL, 'onnxruntime-common'].map((p) => path.join(root, 'node_modules', p));
  const bundled = new Set([...bundledPackages(root, result.metafile), ...level, ...shipped]);
  return { dir, packages: [...bundled].sort() };
}

/** PGlite reads its WebAssembly and data files from beside the chunk that refers to each. */
async function copyPglite(root: string, meta: Metafile): Promise<void> {
  const from = path.join(root, 'node_modules/@electric-sql/pglite/dist');
  const assets = ['pglite.wasm', 'pglite.data', 'initdb.wasm'];
  const found = new Set<string>();
  for (const out of Object.keys(meta.outputs).filter((o) => o.endsWith('.mjs'))) {
    const text = await readFile(path.join(root, out), 'utf8');
    for (const f of assets.filter((a) => text.includes(`"${a}"`) || text.includes(`"./${a}"`))) {
      await cp(path.join(from, f), path.join(root, path.dirname(out), f));
      found.add(f);
    }
  }
  const missing = assets.filter((a) => !found.has(a));
  if (missing.length > 0) throw new Error(`no chunk refers to PGlite's ${missing.join(', ')}`);
}

async function shipPackages(root: string, target: Target, modules: string): Promise<string[]> {
  const nm = path.join(root, 'node_modules');
  const copy = (pkg: string, ...files: string[]): Promise<unknown> =>
    Promise.all(
      files.map((f) =>
        cp(path.join(nm, pkg, f), path.join(modules, pkg, f), { recursive: true, filter: runtimeFile }),
      ),
    );
  await copy('onnxruntime-common', 'package.json', 'dist/cjs', 'dist/esm');
  await copy(
    'onnxruntime-web',
    'package.json',
    'dist/ort.node.min.mjs',
    'dist/ort-wasm-simd-threaded.mjs',
    'dist/ort-wasm-simd-threaded.wasm',
  );
  if (target.nativeOrt) {
    const dist = (await readdir(path.join(nm, 'onnxruntime-node/dist'))).filter((f) => f.endsWith('.js'));
    await copy('onnxruntime-node', ...dist.map((f) => `dist/${f}`), `bin/napi-v6/linux/${target.arch}`);
    await writeFile(
      path.join(modules, 'onnxruntime-node/package.json'),
      await runtimeManifest(nm, 'onnxruntime-node'),
    );
  }
  return bundleClassicLevel(root, target, path.join(modules, 'classic-level'));
}

/** Source maps and type declarations are of no use on a device. */
function runtimeFile(file: string): boolean {
  return !file.endsWith('.map') && !file.endsWith('.d.ts');
}

/** A package.json with the fields Node reads to load the package, and no install scripts. */
async function runtimeManifest(nm: string, pkg: string): Promise<string> {
  const m = JSON.parse(await readFile(path.join(nm, pkg, 'package.json'), 'utf8'));
  const kept = {
    name: m.name,
    version: m.version,
    license: m.license,
    main: m.main,
    exports: m.exports,
    type: m.type,
  };
  return `${JSON.stringify(kept, null, 2)}\n`;
}

/**
 * classic-level with its small dependencies in one CommonJS file, and the prebuilt binding for
 * the target beside it, where node-gyp-build looks (prebuilds/<platform>-<arch>/).
 */
async function bundleClassicLevel(root: string, target: Target, out: string): Promise<string[]> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [path.join(root, 'node_modules/classic-level/index.js')],
    outfile: path.join(out, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    legalComments: 'none',
    metafile: true,
    logLevel: 'error',
  });
  const prebuilds = path.join(root, 'node_modules/classic-level/prebuilds', target.levelPrebuild);
  await cp(prebuilds, path.join(out, 'prebuilds', target.levelPrebuild), { recursive: true });
  const m = JSON.parse(await readFile(path.join(root, 'node_modules/classic-level/package.json'), 'utf8'));
  await writeFile(
    path.join(out, 'package.json'),
    `${JSON.stringify({ name: m.name, version: m.version, license: m.license, main: 'index.js' }, null, 2)}\n`,
  );
  return bundledPackages(root, result.metafile);
}

/** The example configurations and models, in the same places as in the project. */
async function copyResources(root: string, dir: string): Promise<void> {
  await cp(path.join(root, 'deploy/examples'), path.join(dir, 'deploy/examples'), { recursive: true });
  await cp(path.join(root, 'models/examples'), path.join(dir, 'models/examples'), { recursive: true });
  // The dashboard `npm run build` wrote; the operator API serves it from <app>/dist/dashboard.
  await cp(path.join(root, 'dist/dashboard'), path.join(dir, 'dist/dashboard'), { recursive: true });
  // The settlement service's page, which `fieldmesh settlement` serves from <app>/dist/settlement-page.
  await cp(path.join(root, 'dist/settlement-page'), path.join(dir, 'dist/settlement-page'), {
    recursive: true,
  });
}

function bundledPackages(root: string, meta: Metafile): string[] {
  const dirs = new Set<string>();
  for (const input of Object.keys(meta.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m?.[1] !== undefined) dirs.add(path.join(root, m[1]));
  }
  return [...dirs].sort();
}

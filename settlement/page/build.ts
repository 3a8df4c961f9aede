import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { PAGE_ASSETS } from '../service/page-assets.js';

/**
 * Builds the settlement service's page (settlement/service/page-assets.ts serves it): web/
 * bundled into one script and one stylesheet named by their content hash, and index.html
 * pointing at them. Nothing is fetched from elsewhere: the page must work on a site network
 * without internet.
 */
export async function buildSettlementPage(
  outDir: string = path.join(projectRoot(), 'dist', 'settlement-page'),
): Promise<string[]> {
  const web = path.join(projectRoot(), 'settlement', 'page', 'web');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: { app: path.join(web, 'main.ts'), style: path.join(web, 'style.css') },
    outdir: outDir,
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'error',
  });
  const built = Object.keys(result.metafile.outputs).map((o) => path.basename(o));
  const named = (ext: string): string => {
    const name = built.find((b) => b.endsWith(ext));
    if (name === undefined) throw new Error(`the settlement page build wrote no ${ext} file`);
    return `${PAGE_ASSETS}${name}`;
  };
  const page = (await readFile(path.join(web, 'index.html'), 'utf8'))
    .replace('%APP_JS%', named('.js'))
    .replace('%APP_CSS%', named('.css'));
  await writeFile(path.join(outDir, 'index.html'), page);
  return [...built, 'index.html'];
}

/** The checkout: the nearest folder above this module (source or dist/) with a package.json. */
function projectRoot(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${start}: run the page build from the fieldmesh checkout`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const out = process.argv[2] === undefined ? undefined : path.resolve(process.argv[2]);
  buildSettlementPage(out).catch((err: unknown) => {
    process.stderr.write(
      `settlement page build failed: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 1;
  });
}

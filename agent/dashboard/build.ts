import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { projectFile } from '../project-files.js';

/**
 * Builds the dashboard the operator API serves (agent/http/dashboard.ts): the browser code in
 * web/ bundled into one script and one stylesheet named by their content hash (so a browser may
 * cache them for good), and index.html pointing at them. Everything is local: the page must
 * work on a site network without internet.
 */
export async function buildDashboard(outDir: string = projectFile('dist', 'dashboard')): Promise<string[]> {
  const web = projectFile('agent', 'dashboard', 'web');
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
    if (name === undefined) throw new Error(`the dashboard build wrote no ${ext} file`);
    return `/dashboard/${name}`;
  };
  const page = (await readFile(path.join(web, 'index.html'), 'utf8'))
    .replace('%APP_JS%', named('.js'))
    .replace('%APP_CSS%', named('.css'));
  await writeFile(path.join(outDir, 'index.html'), page);
  return [...built, 'index.html'];
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const out = process.argv[2] === undefined ? undefined : path.resolve(process.argv[2]);
  buildDashboard(out).catch((err: unknown) => {
    process.stderr.write(`dashboard build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}

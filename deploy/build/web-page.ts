import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** One static page: the agent's dashboard or the settlement service's page. */
export interface WebPage {
  /** Its source folder: main.ts, style.css and index.html with %APP_JS% and %APP_CSS%. */
  readonly webDir: string;
  readonly outDir: string;
  /** The URL path the server answers its files under, e.g. `/dashboard/`. */
  readonly urlPrefix: string;
  /** What the page is, for an error message. */
  readonly what: string;
}

/**
 * Bundles a page at build time: its script and stylesheet in one file each, named by their
 * content hash (so a browser may cache them for good), and index.html pointing at them.
 * Nothing is fetched from elsewhere: the pages must work on a site network without internet.
 * Returns the names of the files written.
 */
export async function buildWebPage(page: WebPage): Promise<string[]> {
  await rm(page.outDir, { recursive: true, force: true });
  await mkdir(page.outDir, { recursive: true });
  const result = await build({
    entryPoints: { app: path.join(page.webDir, 'main.ts'), style: path.join(page.webDir, 'style.css') },
    outdir: page.outDir,
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
    if (name === undefined) throw new Error(`the ${page.what} build wrote no ${ext} file`);
    return `${page.urlPrefix}${name}`;
  };
  const html = (await readFile(path.join(page.webDir, 'index.html'), 'utf8'))
    .replace('%APP_JS%', named('.js'))
    .replace('%APP_CSS%', named('.css'));
  await writeFile(path.join(page.outDir, 'index.html'), html);
  return [...built, 'index.html'];
}

/** Runs `build(outDir?)` when the module is the script node was started with. */
export function runAsScript(
  moduleUrl: string,
  what: string,
  run: (outDir?: string) => Promise<unknown>,
): void {
  const main = process.argv[1];
  if (main === undefined || fileURLToPath(moduleUrl) !== path.resolve(main)) return;
  const out = process.argv[2] === undefined ? undefined : path.resolve(process.argv[2]);
  run(out).catch((err: unknown) => {
    process.stderr.write(`${what} build failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}

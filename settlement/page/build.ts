import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWebPage, runAsScript } from '../../deploy/build/web-page.js';
import { PAGE_ASSETS } from '../service/page-assets.js';

/**
 * Builds the settlement service's page (settlement/service/page-assets.ts serves it) from web/
 * into dist/settlement-page (deploy/build/web-page.ts says how).
 */
export function buildSettlementPage(
  outDir: string = path.join(projectRoot(), 'dist', 'settlement-page'),
): Promise<string[]> {
  return buildWebPage({
    webDir: path.join(projectRoot(), 'settlement', 'page', 'web'),
    outDir,
    urlPrefix: PAGE_ASSETS,
    what: 'settlement page',
  });
}

/** The checkout: the nearest folder above this module (source or dist/) with a package.json. */
function projectRoot(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${start}: run the page build from the fieldmesh checkout`);
}

runAsScript(import.meta.url, 'settlement page', buildSettlementPage);

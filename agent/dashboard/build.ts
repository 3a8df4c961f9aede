import { buildWebPage, runAsScript } from '../../deploy/build/web-page.js';
import { projectFile } from '../project-files.js';

/**
 * Builds the dashboard the operator API serves (agent/http/dashboard.ts) from web/ into
 * dist/dashboard (deploy/build/web-page.ts says how).
 */
export function buildDashboard(outDir: string = projectFile('dist', 'dashboard')): Promise<string[]> {
  return buildWebPage({
    webDir: projectFile('agent', 'dashboard', 'web'),
    outDir,
    urlPrefix: '/dashboard/',
    what: 'dashboard',
  });
}

runAsScript(import.meta.url, 'dashboard', buildDashboard);

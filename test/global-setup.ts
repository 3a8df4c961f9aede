import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

/** CLI and demo tests run the built `bin/fieldmesh.js`; build once (incrementally) before them. */
export default function setup(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}

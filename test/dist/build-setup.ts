import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { artifact } from './artifacts.js';

/**
 * The release tests run the real artifacts: build them first, as `npm run build:dist` does
 * (about a minute; Node binaries are fetched from the npm registry once into release/.cache).
 * FIELDMESH_TEST_PREBUILT=1 reuses release/ as it is, for re-running these tests by hand.
 */
export default function setup(): void {
  const all = (['linux-x64', 'linux-arm64', 'linux-armv7'] as const).map(artifact);
  if (process.env.FIELDMESH_TEST_PREBUILT === '1' && all.every((f) => existsSync(f))) return;
  execFileSync('npm', ['run', 'build:dist', '--silent'], { stdio: 'inherit' });
}

import { defineConfig } from 'vitest/config';

// The release tests (`npm test` runs them after the rest): the built executables and bundle,
// native and under ARM emulation. One file at a time: emulation takes a whole core, and the
// timing-sensitive tests of the main run are over by then.
export default defineConfig({
  test: {
    include: ['test/dist/**/*.test.ts'],
    globalSetup: ['test/dist/build-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});

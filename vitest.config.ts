import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The release artifacts have their own run (vitest.dist.config.ts).
    exclude: ['test/dist/**', '**/node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores on CI: integration tests open brokers and onnxruntime sessions.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

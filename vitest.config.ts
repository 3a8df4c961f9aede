import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores on CI: integration tests open brokers and onnxruntime sessions.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

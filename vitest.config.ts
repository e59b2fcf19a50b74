import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` needs no service (`npm run test:unit`); `integration`
 * (test/integration and test/browser) gets a Redis from the global setup and
 * cleans up processes and keys after each file.
 */
export default defineConfig({
  test: {
    setupFiles: ['test/helpers/temp-dirs.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start processes and share one Redis; keep CPU contention sane on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default', './test/helpers/count-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/browser/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          setupFiles: ['test/helpers/test-hygiene.ts'],
        },
      },
    ],
  },
});

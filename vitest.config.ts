import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` needs no service (`npm run test:unit`); `integration`
 * (test/integration, test/browser, test/chaos and test/conformance) gets a Redis from the global setup and
 * cleans up processes and keys after each file.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start processes and share one Redis; keep CPU contention sane on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default', './test/helpers/count-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], setupFiles: ['test/helpers/temp-dirs.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/browser/**/*.test.ts', 'test/chaos/**/*.test.ts', 'test/conformance/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          // open-components.ts: a test fails when it leaves a scheduler, worker, service or fleet open;
          // test-hygiene.ts: processes and keys a test file left behind are removed (and reported).
          setupFiles: ['test/helpers/temp-dirs.ts', 'test/helpers/open-components.ts', 'test/helpers/test-hygiene.ts'],
        },
      },
    ],
  },
});

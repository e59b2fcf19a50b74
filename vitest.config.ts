import { defineConfig } from 'vitest/config';

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
          include: ['test/integration/**/*.test.ts', 'test/browser/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          // open-components.ts: a test fails when it leaves a scheduler, worker, service or fleet open.
          setupFiles: ['test/helpers/temp-dirs.ts', 'test/helpers/open-components.ts'],
        },
      },
    ],
  },
});

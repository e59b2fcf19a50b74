import { defineConfig } from 'vitest/config';

/** `npm run test:slow`: tests that take minutes (test/slow), kept out of `npm test`. */
export default defineConfig({
  test: {
    include: ['test/slow/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/temp-dirs.ts'],
    testTimeout: 60 * 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    maxWorkers: 1,
    reporters: ['default', './test/helpers/count-reporter.ts'],
  },
});

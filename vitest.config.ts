import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // test/conformance (side by side with nipype) included: its nipype half skips, counted, without python3-nipype.
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/temp-dirs.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start processes and share one Redis; keep CPU contention sane on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default', './test/helpers/count-reporter.ts'],
  },
});

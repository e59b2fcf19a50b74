/**
 * Temporary directories made by tests (see `tempDir`), removed after each test
 * file. Set FLOWGATE_KEEP_TEST_DIRS=1 to keep them for a look after a failure.
 */
import { rmSync } from 'node:fs';
import { afterAll } from 'vitest';

const made: string[] = [];

/** Registers a directory for removal after the test file. */
export function removeAfterFile(dir: string): void {
  made.push(dir);
}

afterAll(() => {
  if (process.env['FLOWGATE_KEEP_TEST_DIRS'] === '1') return;
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
});

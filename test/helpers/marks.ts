/**
 * Marks files: nodes append a line when they start (`echo $FLOWGATE_NODE_ID
 * >> marks`), and tests read back what ran, how often and in which order.
 */
import { existsSync, readFileSync } from 'node:fs';
import { waitFor } from './wait-for.js';

/** The lines of the marks file at `path` so far (none while it does not exist). */
export function markLines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/** Waits until the marks file at `path` has at least `n` lines; returns them. */
export function waitForMarks(path: string, n: number, timeoutMs: number, what: string): Promise<string[]> {
  return waitFor(() => {
    const lines = markLines(path);
    return lines.length >= n ? lines : undefined;
  }, timeoutMs, what);
}

/**
 * Run ids: generated sortable ids and the one rule user-chosen ids follow
 * (for `run`, `submit` and the API's `run()`).
 */
import { randomBytes } from 'node:crypto';

/** Run ids become parts of Redis keys and job ids: a safe alphabet, no ":". */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** What is wrong with a chosen run id, or undefined when it is usable. */
export function runIdProblem(id: string): string | undefined {
  return RUN_ID_PATTERN.test(id) ? undefined : `must be 1-64 letters, digits, "_" or "-", received "${id}"`;
}

/** A fresh, sortable run id: `YYYYMMDD-HHMMSS-xxxxxx`. */
export function newRunId(now = new Date()): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10).replace(/-/g, '')}-${iso.slice(11, 19).replace(/:/g, '')}-${randomBytes(3).toString('hex')}`;
}

const GENERATED = /^\d{8}-\d{6}-[0-9a-f]{6}$/;

/**
 * A short tag of the run for names of its processes (`<host>:run-<tag>-<n>`):
 * the random end of a generated id, a chosen id as it is.
 */
export function runTag(id: string): string {
  return GENERATED.test(id) ? id.slice(-6) : id;
}

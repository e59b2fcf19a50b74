/**
 * Small pieces the API shares: where relative paths start, what the worker
 * fleet is told, and errors worded for `run()`'s options instead of the CLI's
 * flags.
 */
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError, type ValidationIssue } from '../shared/errors.js';

/**
 * A base dir as given: a `file:` URL (a module's `import.meta.url`: its
 * directory; a URL ending in `/`: that directory), or a directory path.
 */
export function baseDirFrom(base: string | URL): string {
  const isUrl = base instanceof URL || base.startsWith('file:');
  if (!isUrl) return base;
  const path = fileURLToPath(base);
  if (path.endsWith('/')) return path;
  let isDir = false;
  try {
    isDir = statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    isDir = false;
  }
  return isDir ? path : dirname(path);
}

/** `max_tasks_per_child` as the workers take it: `Infinity` is never replaced. */
export function executorTasks(n: number): number {
  return n === Infinity ? Number.MAX_SAFE_INTEGER : n;
}

/** The worker flags of the run options that workers apply. */
export function workerArgs(o: { clean_env?: boolean; sample_interval_ms?: number }): string[] {
  return [...(o.clean_env === true ? ['--clean-env=true'] : []), ...(o.sample_interval_ms !== undefined ? ['--sample-interval-ms', String(o.sample_interval_ms)] : [])];
}

const FLAG = /(?<![\w-])--(no-)?([a-z][a-z0-9]*(?:-[a-z0-9]+)*)/g;

/** A message naming CLI flags, naming the options of `run()` instead (`--no-raise-insufficient` → `raise_insufficient: false`). */
export function inOptionWords(text: string): string {
  return text.replace(FLAG, (_m, no: string | undefined, name: string) => `${name.replace(/-/g, '_')}${no !== undefined ? ': false' : ''}`);
}

/** Runs `f`; a validation error it throws is worded for `run()`'s options. */
export async function inApiWords<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const issues = err.issues.map((i): ValidationIssue => ({ ...i, message: inOptionWords(i.message), ...(i.field !== undefined ? { field: inOptionWords(i.field) } : {}) }));
    throw new ValidationError(err.code, issues, { cause: err.cause });
  }
}

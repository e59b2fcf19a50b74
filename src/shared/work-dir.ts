/**
 * Checks that a directory a run will write to (its work dir, its crash dump
 * dir) can be made and written, before anything of the run is written: a
 * path that is a file or lies below one, or a directory nobody may write,
 * is bad input (exit 2), not a run whose every node fails.
 */
import { mkdtempSync, rmdirSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { ValidationIssue } from './errors.js';

function statOrCode(path: string): Stats | string {
  try {
    return statSync(path);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/**
 * What is wrong with `dir` as a directory to write into, or undefined. The
 * directory need not exist: its nearest existing ancestor must then be a
 * directory where one can be made. Writability is tried for real (a probe
 * directory made and removed at once), because `access(2)` says yes to root
 * on read-only and virtual file systems. Nothing is left behind.
 */
export function writableDirProblem(dir: string, field: string): ValidationIssue | undefined {
  const target = resolve(dir);
  let path = target;
  let st = statOrCode(path);
  // Up to the nearest thing that exists (ENOTDIR: a file is somewhere above).
  while (typeof st === 'string' && (st === 'ENOENT' || st === 'ENOTDIR') && dirname(path) !== path) {
    path = dirname(path);
    st = statOrCode(path);
  }
  if (typeof st === 'string') return { field, message: `cannot use ${target}: ${st === 'EACCES' ? `permission denied on ${path}` : `${st} on ${path}`}` };
  if (!st.isDirectory()) {
    return {
      field,
      message: path === target ? `${target} is a file, not a directory` : `${target} lies below ${path}, which is a file, not a directory`,
    };
  }
  try {
    rmdirSync(mkdtempSync(join(path, '.flowgate-probe-')));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : code;
    return { field, message: path === target ? `cannot write in ${target} (${why})` : `cannot create ${target}: cannot write in ${path} (${why})` };
  }
  return undefined;
}

/**
 * The problems of several directories (`[dir, field]`), in order; a
 * directory inside one already found wrong (the default crash dump dir in a
 * work dir that is a file) is not reported again.
 */
export function writableDirProblems(dirs: ReadonlyArray<readonly [string, string]>): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const wrong: string[] = [];
  for (const [dir, field] of dirs) {
    const target = resolve(dir);
    if (wrong.some((w) => isInside(target, w))) continue;
    const issue = writableDirProblem(target, field);
    if (issue === undefined) continue;
    issues.push(issue);
    wrong.push(target);
  }
  return issues;
}

/** Whether `path` is `dir` or lies below it. */
function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Finds a process launcher (`flowgate-launcher`, src/worker/launcher/) that
 * runs on this machine: `FLOWGATE_LAUNCHER` when set (that one or none), else
 * the one `npm run build` put next to this module, else one compiled from the
 * shipped source on first use with `cc` and kept in `~/.cache/flowgate`.
 *
 * Every candidate is self-tested before it is used: it is started with an
 * empty stdin, on which a working launcher exits 0 at once. A binary for
 * another architecture or C library, or a file that is no program at all,
 * fails that test, and the caller falls back to Node's spawn (`auto`) or
 * refuses to start (`launcher`), instead of every node failing later.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readLauncherEnv, type LauncherEnv } from '../shared/config.js';

/** A launcher that passed its self-test, or why there is none. */
export type LauncherCheck = { ok: true; path: string } | { ok: false; problem: string };

/** The launcher `npm run build` makes: next to this module in dist/ (also found from src/). */
export const BUILT_LAUNCHER = [new URL('./flowgate-launcher', import.meta.url), new URL('../../dist/worker/flowgate-launcher', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((p) => existsSync(p)) ?? fileURLToPath(new URL('./flowgate-launcher', import.meta.url));

/** The launcher's C source: copied next to this module by the build, or in src/ of the package. */
export const LAUNCHER_SOURCE = [new URL('./launcher/flowgate-launcher.c', import.meta.url), new URL('../../src/worker/launcher/flowgate-launcher.c', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((p) => existsSync(p));

const PROBE_TIMEOUT_MS = 5000;
const COMPILE_TIMEOUT_MS = 60_000;

/**
 * Why the launcher at `path` cannot be used here, or undefined when it can:
 * started with an empty stdin, it must exit 0 by itself.
 */
export function probeLauncher(path: string): string | undefined {
  const r = spawnSync(path, [], { input: '', stdio: ['pipe', 'ignore', 'pipe'], timeout: PROBE_TIMEOUT_MS, encoding: 'utf8' });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') return `${path} did not exit within ${PROBE_TIMEOUT_MS} ms of its self-test`;
    const why = code === 'ENOEXEC' ? 'not an executable for this machine' : code === 'ENOENT' ? 'not found, or its program loader is missing (built for another C library?)' : code === 'EACCES' ? 'not executable' : (code ?? r.error.message);
    return `cannot start ${path}: ${why}`;
  }
  if (r.signal !== null) return `${path} was killed by ${r.signal} in its self-test`;
  // exec failed with ENOEXEC and execvp's /bin/sh fallback could not run it either.
  if (r.status === 126 || r.status === 127) return `cannot start ${path}: not an executable for this machine (${process.arch} Linux), or built for another C library (exit code ${r.status})`;
  if (r.status !== 0) {
    const stderr = r.stderr.replace(/[\x00-\x08\x0b-\x1f\x7f-\uffff]/g, '?').trim().split('\n').slice(-2).join(' / ');
    return `${path} exited with code ${String(r.status)} in its self-test${stderr !== '' ? `: ${stderr}` : ''}`;
  }
  return undefined;
}

/** Compiles the launcher into the cache (atomically: several workers may race) and returns its path, or why not. */
function compileLauncher(env: LauncherEnv): LauncherCheck {
  if (LAUNCHER_SOURCE === undefined) return { ok: false, problem: 'its C source is not installed' };
  const source = readFileSync(LAUNCHER_SOURCE);
  const id = createHash('sha256').update(source).update(`${process.arch}\0${env.cc}`).digest('hex').slice(0, 16);
  const target = join(env.cacheDir, `flowgate-launcher-${process.arch}-${id}`);
  if (existsSync(target)) return { ok: true, path: target };
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(target), { recursive: true });
  } catch (err) {
    return { ok: false, problem: `cannot create ${env.cacheDir} (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  const r = spawnSync(env.cc, ['-O2', '-std=gnu11', '-o', tmp, LAUNCHER_SOURCE], { stdio: ['ignore', 'ignore', 'pipe'], timeout: COMPILE_TIMEOUT_MS, encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    rmSync(tmp, { force: true });
    const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
    const why = code === 'ENOENT' ? `no C compiler (${env.cc} not found)` : r.error !== undefined ? `${env.cc} failed (${code ?? r.error.message})` : `${env.cc} exited with code ${String(r.status)}: ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
    return { ok: false, problem: `it was not built and cannot be compiled: ${why}` };
  }
  renameSync(tmp, target);
  return { ok: true, path: target };
}

const checked = new Map<string, LauncherCheck>();

/**
 * A launcher that runs here, or why there is none. Checked once per process
 * and settings (the self-test and any compile happen on the first call).
 */
export function findLauncher(env: LauncherEnv = readLauncherEnv(), built: string = BUILT_LAUNCHER): LauncherCheck {
  const key = `${env.path ?? ''}\0${env.cc}\0${env.cacheDir}\0${built}`;
  const known = checked.get(key);
  if (known !== undefined) return known;
  const result = locate(env, built);
  checked.set(key, result);
  return result;
}

function locate(env: LauncherEnv, built: string): LauncherCheck {
  if (process.platform !== 'linux') return { ok: false, problem: `the process launcher is Linux-only (this is ${process.platform})` };
  if (env.path !== undefined) {
    const problem = probeLauncher(env.path);
    return problem === undefined ? { ok: true, path: env.path } : { ok: false, problem: `FLOWGATE_LAUNCHER: ${problem}` };
  }
  const problems: string[] = [];
  if (existsSync(built)) {
    const problem = probeLauncher(built);
    if (problem === undefined) return { ok: true, path: built };
    problems.push(problem);
  }
  const compiled = compileLauncher(env);
  if (compiled.ok) {
    const problem = probeLauncher(compiled.path);
    if (problem === undefined) return compiled;
    rmSync(compiled.path, { force: true });
    problems.push(problem);
  } else {
    problems.push(compiled.problem);
  }
  return { ok: false, problem: problems.join('; ') };
}

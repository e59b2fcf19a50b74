/**
 * The shared work dir check. Node directories live under a run's work dir,
 * which every worker of every host must see as the same directory (NFS, a
 * shared volume) at the same path. Whoever owns a work dir — the scheduler
 * of a run, the scheduler service for its default one — keeps a marker file
 * with a random token in its root, `<work dir>/.flowgate-work-dir`, and
 * records path and token in Redis: in the run's meta hash (field
 * `work_dir_check`) and in the service's record. A worker reads the marker
 * before it registers (the service's work dir) and before it claims a node
 * of a run whose work dir it has not checked yet; a different token, or no
 * marker, means it sees another directory there, and it refuses instead of
 * running nodes in a private one.
 *
 * The token belongs to the directory, not to a run: an owner reuses the
 * token of a marker that is there, so runs sharing a work dir agree on it.
 * The marker's name cannot be a workflow's (those start with a letter or a
 * digit), so no node directory, cache record or prune touches it.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The marker's file name in the root of a work dir. */
export const WORK_DIR_MARKER = '.flowgate-work-dir';

/** The field of a run's meta hash (and of the service record) holding {@link WorkDirCheck} as JSON. */
export const WORK_DIR_CHECK_FIELD = 'work_dir_check';

/** What an owner records in Redis: the work dir and the token of its marker. */
export interface WorkDirCheck {
  /** Absolute path of the work dir. */
  path: string;
  /** The token its marker holds. */
  token: string;
}

/** The marker file of a work dir. */
export function markerPath(workDir: string): string {
  return join(workDir, WORK_DIR_MARKER);
}

/** The token of a marker's text, or undefined when the text is not a marker. */
function tokenOf(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as { token?: unknown };
    return typeof v.token === 'string' && /^[0-9a-f]{32}$/.test(v.token) ? v.token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a work dir's marker: its token, or why there is none (`no file`,
 * `not a flowgate marker`, an errno code). Never throws.
 */
export function readMarker(workDir: string): { token: string } | { problem: string } {
  let text: string;
  try {
    text = readFileSync(markerPath(workDir), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return { problem: code === 'ENOENT' || code === 'ENOTDIR' ? `there is no ${markerPath(workDir)} here` : `cannot read ${markerPath(workDir)} (${code})` };
  }
  const token = tokenOf(text);
  return token === undefined ? { problem: `${markerPath(workDir)} is not a flowgate marker` } : { token };
}

/**
 * The owner's side: the token of the work dir's marker, making the work dir
 * and the marker when they are missing (or replacing a marker that is not
 * one). A new marker is written aside and linked into place, so a reader
 * never sees half of one and two owners starting at once end up with the
 * same token. Throws when the directory cannot be written.
 */
export function ensureMarker(workDir: string): string {
  const found = readMarker(workDir);
  if ('token' in found) return found.token;
  mkdirSync(workDir, { recursive: true });
  const token = randomBytes(16).toString('hex');
  const body = `${JSON.stringify({ token, created_by: `${hostname()}:${process.pid}`, created_ms: Date.now(), note: 'flowgate: every worker of this work dir must see this file (see the README, multi-host deployment)' })}\n`;
  const aside = join(workDir, `${WORK_DIR_MARKER}.${token}.tmp`);
  writeFileSync(aside, body, { mode: 0o644 });
  try {
    try {
      linkSync(aside, markerPath(workDir));
      return token;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // Another owner made it meanwhile: theirs is the token, unless it is not a marker.
    const other = readMarker(workDir);
    if ('token' in other) return other.token;
    renameSync(aside, markerPath(workDir));
    return token;
  } finally {
    try {
      unlinkSync(aside);
    } catch {
      // Renamed into place, or gone.
    }
  }
}

/** Parses a recorded {@link WorkDirCheck}; undefined for anything else (nothing to check). */
export function parseWorkDirCheck(raw: string | null | undefined): WorkDirCheck | undefined {
  if (raw === null || raw === undefined || raw === '') return undefined;
  try {
    const v = JSON.parse(raw) as Partial<WorkDirCheck>;
    return typeof v.path === 'string' && v.path !== '' && typeof v.token === 'string' && v.token !== '' ? { path: v.path, token: v.token } : undefined;
  } catch {
    return undefined;
  }
}

/** Who checks, for the message. */
export interface CheckingWorker {
  name: string;
  hostId: string;
}

/**
 * What is wrong with this process's view of a recorded work dir, as a
 * sentence naming the path, the worker, its host and the fix; undefined when
 * the marker there holds the recorded token.
 */
export function workDirProblem(check: WorkDirCheck, who: CheckingWorker): string | undefined {
  const found = readMarker(check.path);
  if ('token' in found && found.token === check.token) return undefined;
  const seen = 'token' in found ? `${markerPath(check.path)} holds another token: this is a different directory from the scheduler's` : found.problem;
  return `work dir ${check.path} is not shared with worker "${who.name}" on host "${who.hostId}" (${seen}); mount the shared volume at ${check.path} on this host, at the same path as on the scheduler's host`;
}

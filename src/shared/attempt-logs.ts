/**
 * Every attempt's stdout and stderr, kept per run: a node writes `stdout.log`
 * and `stderr.log` in its directory (shared between runs, for the cache);
 * when the attempt ends, its worker links both into the run's own logs
 * directory, `<work dir>/_runs/<run>.logs/<node>.<attempt>.stdout.log`. A
 * later run that reruns the node starts new files (the old ones are
 * unlinked from the node directory first, never truncated), so what a run's
 * attempt printed stays readable (`flowgate logs RUN NODE --attempt N`).
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The run's attempt logs directory under its work dir. */
export function attemptLogsDir(workDir: string, runId: string): string {
  return join(workDir, '_runs', `${runId}.logs`);
}

/** The path of one attempt's stream in a run's logs directory. */
export function attemptLogPath(logsDir: string, nodeId: string, attempt: number, stream: 'stdout' | 'stderr'): string {
  return join(logsDir, `${nodeId}.${attempt}.${stream}.log`);
}

/**
 * Before an attempt starts: the node directory's log files of an earlier
 * attempt (of any run) are unlinked, so that the new ones are new files and
 * the kept copies (hard links) stay as they were.
 */
export function releaseNodeLogs(nodeDir: string): void {
  for (const name of ['stdout.log', 'stderr.log']) {
    const path = join(nodeDir, name);
    if (!existsSync(path)) continue;
    try {
      unlinkSync(path);
    } catch {
      // Opened with truncation below; the earlier attempt's copy may then be lost, never the run.
    }
  }
}

const madeDirs = new Set<string>();

/**
 * After an attempt ended: its logs are kept under the run (hard links; a copy
 * where links cannot be made). Returns the kept paths, or undefined for a
 * stream the attempt did not write or that could not be kept.
 *
 * The link is tried first: it is what happens for nearly every attempt (the
 * node's files exist, the kept ones do not yet), one system call per stream
 * instead of three; only a failed link looks at why.
 */
export function keepAttemptLogs(nodeDir: string, logsDir: string, nodeId: string, attempt: number): { stdout?: string; stderr?: string } {
  const kept: { stdout?: string; stderr?: string } = {};
  for (const stream of ['stdout', 'stderr'] as const) {
    const from = join(nodeDir, `${stream}.log`);
    const to = attemptLogPath(logsDir, nodeId, attempt, stream);
    try {
      if (!madeDirs.has(logsDir)) {
        mkdirSync(logsDir, { recursive: true });
        madeDirs.add(logsDir);
      }
      if (keepLog(from, to)) kept[stream] = to;
    } catch {
      // The node's own files remain; only the per-run copy is missing.
    }
  }
  return kept;
}

/** Links (else copies) `from` to `to`, replacing an earlier `to`; false when there is no `from`. */
function keepLog(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (err) {
    if (!existsSync(from)) return false;
    // A kept file of an earlier execution of the same attempt (requeued) is
    // replaced, never written through (it may be a link to other logs).
    if (existsSync(to)) unlinkSync(to);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      try {
        linkSync(from, to);
        return true;
      } catch {
        // Copied below.
      }
    }
    // Not linkable (another file system, no hard links): copied.
    copyFileSync(from, to);
    return true;
  }
}

/** How an attempt ended, kept on disk when its worker could not reach Redis as it ended. */
export interface PendingOutcome {
  state: 'succeeded' | 'failed';
  outcome: unknown;
}

/** Where a {@link PendingOutcome} is kept: next to the attempt's logs. */
export function pendingOutcomePath(logsDir: string, nodeId: string, attempt: number): string {
  return join(logsDir, `${nodeId}.${attempt}.outcome.json`);
}

/**
 * Keeps an attempt's outcome on disk (written whole, then renamed into
 * place): a node that finished while Redis was away is not run again by a
 * scheduler that resumes the run after its workers gave up.
 */
export function writePendingOutcome(logsDir: string, nodeId: string, attempt: number, pending: PendingOutcome): void {
  const path = pendingOutcomePath(logsDir, nodeId, attempt);
  mkdirSync(logsDir, { recursive: true });
  writeFileSync(`${path}.tmp`, JSON.stringify(pending));
  renameSync(`${path}.tmp`, path);
}

/** The kept outcome of an attempt, if its worker kept one. */
export function readPendingOutcome(logsDir: string, nodeId: string, attempt: number): PendingOutcome | undefined {
  try {
    const v = JSON.parse(readFileSync(pendingOutcomePath(logsDir, nodeId, attempt), 'utf8')) as Partial<PendingOutcome>;
    if ((v.state === 'succeeded' || v.state === 'failed') && typeof v.outcome === 'object' && v.outcome !== null) return { state: v.state, outcome: v.outcome };
  } catch {
    // None, or unreadable: the attempt runs again.
  }
  return undefined;
}

/**
 * A node's record while its run goes: made before anything happened to the
 * node, and each attempt's outcome copied in. Every node keeps its record
 * for the whole run, so what it holds is kept small (shared grants, shared
 * worker names, log paths made when read).
 */
import { attemptLogPath } from '../shared/attempt-logs.js';
import { InternTable } from '../shared/intern.js';
import type { NodeOutcome } from '../shared/payloads.js';
import type { Resources } from './ledger.js';
import { lastLines, type AttemptSummary, type NodeSummary, type RunSummary } from './summary.js';

/**
 * Appends to a node's attempt history. The list is replaced by one of its
 * new length, not grown: an array grown by `push` from empty reserves 17
 * slots, and every finished node keeps its history for the whole run.
 */
export function addAttempts(r: Pick<NodeSummary, 'attempt_history'>, ...entries: AttemptSummary[]): void {
  r.attempt_history = r.attempt_history.concat(entries);
}

/** A grant of threads and memory alone: nothing else to copy or leave out. */
function isPlain(g: object): boolean {
  const keys = Object.keys(g);
  return keys.length === 2 && 'n_procs' in g && 'mem_gb' in g;
}

/** A node's record before anything happened to it. */
export function emptyRecord(node: { id: string; n_procs: number; mem_gb: number; resources?: Readonly<Record<string, number>> }, granted: Resources & { resources?: Readonly<Record<string, number>> }, dir: string): NodeSummary {
  const named = node.resources !== undefined && Object.keys(node.resources).length > 0;
  // A plain literal, every field in the object itself: a literal that starts
  // with a spread is built field by field and keeps most of them in a second
  // allocation (~170 bytes more per node, for the whole run).
  const record: NodeSummary = {
    id: node.id,
    status: 'waiting',
    n_procs: node.n_procs,
    mem_gb: node.mem_gb,
    // A plain grant is shared as it is (never changed; a restored record replaces it whole).
    granted: isPlain(granted) ? (granted as NodeSummary['granted']) : { n_procs: granted.n_procs, mem_gb: granted.mem_gb, ...(granted.resources !== undefined && Object.keys(granted.resources).length > 0 ? { resources: { ...granted.resources } } : {}) },
    admitted_ms: null,
    released_ms: null,
    start_ms: null,
    end_ms: null,
    worker: null,
    exit_code: null,
    signal: null,
    attempts: 0,
    attempt: 0,
    crash_file: null,
    skipped_because: null,
    reason: null,
    node_dir: dir,
    attempt_history: [],
    stalls: 0,
    cpu_s: null,
    peak_rss_mb: null,
  };
  return named ? { resources: { ...node.resources }, ...record } : record;
}

/**
 * A node's `attempts`: its admissions (`attempt`) plus the executions that
 * were killed before they finished and ran again within one admission.
 */
export function countAttempts(r: Pick<NodeSummary, 'attempt_history'>, attempt: number): number {
  return attempt + r.attempt_history.filter((a) => a.status === 'killed').length;
}

/** One string per worker name (`host:pid`): every outcome read from a job brings its own copy, and each finished node keeps it for the whole run. */
const workerNames = new InternTable<string>(1024);

/** One string per run's logs directory, which every attempt's kept logs share. */
const logsDirs = new InternTable<string>(64);

/**
 * The run's logs directory when the attempt's logs were kept there under
 * their usual names (`attemptLogPath`), so that the paths can be made again
 * from it; undefined otherwise (the paths are then stored as given).
 */
function keptLogsDir(node: string, attempt: number, stdout: string | undefined, stderr: string | undefined): string | undefined {
  const given = stdout ?? stderr;
  if (given === undefined) return undefined;
  const stream = stdout !== undefined ? 'stdout' : 'stderr';
  const name = `${node}.${attempt}.${stream}.log`;
  if (!given.endsWith(name) || given.length <= name.length + 1) return undefined;
  const dir = logsDirs.get(given.slice(0, given.length - name.length - 1), () => given.slice(0, given.length - name.length - 1));
  const same = (path: string | undefined, s: 'stdout' | 'stderr'): boolean => path === undefined || attemptLogPath(dir, node, attempt, s) === path;
  return same(stdout, 'stdout') && same(stderr, 'stderr') ? dir : undefined;
}

/**
 * A finished attempt whose logs were kept in the run's logs directory: their
 * paths are made from it when read (and in its JSON), not stored — two paths
 * of ~90 bytes each that every finished node kept for the whole run.
 */
class KeptLogsAttempt implements AttemptSummary {
  constructor(
    readonly attempt: number,
    readonly status: AttemptSummary['status'],
    readonly reason: string | null,
    readonly exit_code: number | null,
    readonly signal: string | null,
    readonly start_ms: number | null,
    readonly end_ms: number | null,
    readonly worker: string | null,
    private readonly node: string,
    private readonly logsDir: string,
    /** Which logs were kept: 1 stdout, 2 stderr. */
    private readonly streams: number,
  ) {}

  get stdout_path(): string | undefined {
    return (this.streams & 1) !== 0 ? attemptLogPath(this.logsDir, this.node, this.attempt, 'stdout') : undefined;
  }

  get stderr_path(): string | undefined {
    return (this.streams & 2) !== 0 ? attemptLogPath(this.logsDir, this.node, this.attempt, 'stderr') : undefined;
  }

  /** What a stored attempt looks like: the same fields, in the same order, as a plain one. */
  toJSON(): AttemptSummary {
    const { stdout_path, stderr_path } = this;
    return {
      attempt: this.attempt,
      status: this.status,
      reason: this.reason,
      exit_code: this.exit_code,
      signal: this.signal,
      start_ms: this.start_ms,
      end_ms: this.end_ms,
      worker: this.worker,
      ...(stdout_path !== undefined ? { stdout_path } : {}),
      ...(stderr_path !== undefined ? { stderr_path } : {}),
    };
  }
}

/**
 * The summary with every attempt a plain object (its log paths as stored
 * fields), for callers of the TypeScript API, who may spread, clone or
 * compare what they are given. Changes the finished run's records in place.
 */
export function withPlainAttempts(s: RunSummary): RunSummary {
  for (const n of s.nodes) {
    if (n.attempt_history.some((a) => a instanceof KeptLogsAttempt)) n.attempt_history = n.attempt_history.map((a) => (a instanceof KeptLogsAttempt ? a.toJSON() : a));
  }
  return s;
}

/** Copies an attempt's outcome into the node's record and its attempt history. */
export function recordAttempt(r: NodeSummary, attempt: number, status: 'succeeded' | 'failed', reason: string | null, given: NodeOutcome | null | undefined): void {
  // A job's return value or stored outcome can be null (a job that never ran to its end).
  const outcome = given ?? undefined;
  r.start_ms = outcome?.start_ms ?? null;
  r.end_ms = outcome?.end_ms ?? null;
  const worker = outcome?.worker ?? null;
  r.worker = worker === null ? null : workerNames.get(worker, () => worker);
  r.exit_code = outcome?.exit_code ?? null;
  r.signal = outcome?.signal ?? null;
  r.cpu_s = outcome?.cpu_s ?? null;
  r.peak_rss_mb = outcome?.peak_rss_mb ?? null;
  if (outcome?.outputs !== undefined) r.outputs = outcome.outputs;
  const stderr = status === 'failed' && outcome !== undefined ? lastLines(outcome.stderr_tail) : '';
  if (stderr !== '') r.stderr_tail = stderr;
  else delete r.stderr_tail;
  const killed = (outcome?.earlier ?? []).map((e): AttemptSummary => ({ attempt, status: 'killed', reason: e.ended, exit_code: null, signal: null, start_ms: e.start_ms, end_ms: e.end_ms ?? null, worker: e.worker }));
  const stdoutPath = outcome !== undefined && outcome.stdout_path !== '' ? outcome.stdout_path : undefined;
  const stderrPath = outcome !== undefined && outcome.stderr_path !== '' ? outcome.stderr_path : undefined;
  const logsDir = keptLogsDir(r.id, attempt, stdoutPath, stderrPath);
  addAttempts(
    r,
    ...killed,
    logsDir !== undefined
      ? new KeptLogsAttempt(attempt, status, reason, r.exit_code, r.signal, r.start_ms, r.end_ms, r.worker, r.id, logsDir, (stdoutPath !== undefined ? 1 : 0) | (stderrPath !== undefined ? 2 : 0))
      : {
          attempt,
          status,
          reason,
          exit_code: r.exit_code,
          signal: r.signal,
          start_ms: r.start_ms,
          end_ms: r.end_ms,
          worker: r.worker,
          ...(stdoutPath !== undefined ? { stdout_path: stdoutPath } : {}),
          ...(stderrPath !== undefined ? { stderr_path: stderrPath } : {}),
        },
  );
  r.attempts = countAttempts(r, attempt);
  r.attempt = attempt;
}

/**
 * The run summary: what `--json` prints and what is stored with the run.
 */
import { attemptLogPath } from '../shared/attempt-logs.js';
import { InternTable } from '../shared/intern.js';
import { jsonChunks } from '../shared/json-stream.js';
import type { NodeOutcome } from '../shared/payloads.js';
import type { Resources } from './ledger.js';

/** Final status of a run. */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** Final statuses a node can be reported with. */
export type NodeFinalStatus = 'succeeded' | 'failed' | 'skipped' | 'cached' | 'cancelled';

/** One node in the summary (and its durable record while the run is going). */
export interface NodeSummary {
  id: string;
  /** The node's state: a final status once the run ended. */
  status: string;
  /** Declared resources. */
  n_procs: number;
  mem_gb: number;
  /** Resources actually reserved (request clamped to the budget without raise_insufficient); named ones when any. */
  granted: Resources & { readonly resources?: Readonly<Record<string, number>> };
  /** Declared named resources (`{gpu: 1}`), when any. */
  resources?: Record<string, number>;
  /** Where the current attempt was placed: its host (per-host placement only). */
  host?: string;
  /** The named resource slots the current attempt holds (`{gpu: [1]}`: CUDA device 1). */
  slots?: Record<string, number[]>;
  /** Scheduler clock: reservation taken and released. */
  admitted_ms: number | null;
  released_ms: number | null;
  /** Worker clock, around the node's own process. */
  start_ms: number | null;
  end_ms: number | null;
  worker: string | null;
  exit_code: number | null;
  signal: string | null;
  /** Executions, killed ones included (see {@link countAttempts}). */
  attempts: number;
  /** The current attempt (admission) number, 0 before the first: attempt logs and jobs are numbered by it. */
  attempt: number;
  crash_file: string | null;
  /** For skipped nodes: the failed node that caused it. */
  skipped_because: string | null;
  /** Why the node failed, was skipped or cancelled. */
  reason: string | null;
  /** The node's working directory. */
  node_dir: string;
  /** A failed node: the last lines of its stderr (at most {@link SUMMARY_STDERR_LINES}). */
  stderr_tail?: string;
  /** Every finished attempt, oldest first (a retried node has several). */
  attempt_history: AttemptSummary[];
  /** Times the node's worker was lost mid-run and its job was put back. */
  stalls: number;
  /** Measured CPU seconds of the node's process tree (last attempt; null if too short to sample). */
  cpu_s: number | null;
  /** Measured peak resident memory of the tree in MB (last attempt; null if too short to sample). */
  peak_rss_mb: number | null;
  /** The node's outputs: what a function returned, a command's declared files and stdout JSON. */
  outputs?: unknown;
  /** Digest of the node's result (from its cache record), chained into its successors' cache keys. */
  result?: string;
  /** The cache check: taken from the cache record (`hit`), or why the node ran. */
  cache?: { readonly hit: boolean; readonly reasons: readonly string[] };
  /** A map node: its elements (ids, inputs, directories) and the index of the first. */
  map?: MapRecord;
  /** A map element: the id of its map node. */
  element_of?: string;
}

/** A node whose measured peak memory exceeded what it declared. */
export interface MemoryWarning {
  node: string;
  declared_gb: number;
  measured_gb: number;
}

/** Nodes that used more memory than they declared. */
export function memoryWarnings(nodes: readonly NodeSummary[]): MemoryWarning[] {
  return nodes
    .filter((n) => n.peak_rss_mb !== null && n.peak_rss_mb / 1024 > n.mem_gb)
    .map((n) => ({ node: n.id, declared_gb: n.mem_gb, measured_gb: Math.round(((n.peak_rss_mb ?? 0) / 1024) * 1000) / 1000 }));
}

/** How a map node was expanded (enough to expand it again the same way on resume). */
export interface MapRecord {
  first: number;
  elements: Array<{ id: string; inputs: Record<string, unknown>; dir: string }>;
}

/** One attempt of a node. */
export interface AttemptSummary {
  attempt: number;
  /**
   * How the execution ended. `killed`: it did not finish — its worker was lost
   * (`reason: killed: worker lost`) or shut down by force (`killed: shutdown`) —
   * and the same attempt ran again (the next entry). `cancelled`: the run was
   * cancelled while it ran (its processes were stopped). `lost`: its host
   * stopped heartbeating (per-host placement); the node was placed again as
   * a new attempt.
   */
  status: 'succeeded' | 'failed' | 'killed' | 'cancelled' | 'lost';
  reason: string | null;
  exit_code: number | null;
  signal: string | null;
  start_ms: number | null;
  end_ms: number | null;
  worker: string | null;
  /** This attempt's own stdout and stderr: kept under the run (`<work dir>/_runs/<run>.logs/`), else in the node directory. */
  stdout_path?: string | undefined;
  stderr_path?: string | undefined;
}

/** Lines of a failed node's stderr kept in its record and shown in the run summary. */
export const SUMMARY_STDERR_LINES = 10;
/** Characters of those lines kept at most (a single huge line is cut from its start). */
const SUMMARY_STDERR_CHARS = 2048;

/** The last {@link SUMMARY_STDERR_LINES} lines of a log tail, trailing blank space dropped. */
export function lastLines(text: string): string {
  const lines = text.replace(/\s+$/, '').split('\n').slice(-SUMMARY_STDERR_LINES).join('\n');
  return lines.length > SUMMARY_STDERR_CHARS ? `…${lines.slice(-SUMMARY_STDERR_CHARS)}` : lines;
}

/** One failure and what it took down with it. */
export interface FailureSummary {
  node: string;
  reason: string;
  crash_file: string | null;
  skipped: string[];
  /** The failed node's working directory (its stdout.log and stderr.log are there). */
  node_dir: string;
  /** The last lines of its stderr ('' when it wrote none). */
  stderr_tail: string;
}

/** The run summary. */
export interface RunSummary {
  run_id: string;
  workflow: string;
  status: RunStatus;
  /** The run's budget: threads, memory and, when it has any, named resources in slots (`resources: {gpu: 2}`). */
  budget: { n_procs: number; memory_gb: number; resources?: Record<string, number> };
  scheduler: string;
  started_ms: number;
  finished_ms: number;
  wall_s: number;
  counts: Record<NodeFinalStatus, number>;
  failures: FailureSummary[];
  /** Nodes whose measured peak memory exceeded their declared `mem_gb`. */
  memory_warnings: MemoryWarning[];
  nodes: NodeSummary[];
}

/** What {@link buildSummary} needs. */
export interface SummaryInput {
  runId: string;
  workflow: string;
  /** The run was cancelled (by a user or a signal). */
  cancelled: boolean;
  /** Threads, memory and named resources (left out of the summary when it has none). */
  budget: Resources & { resources?: Readonly<Record<string, number>> };
  order: string;
  startedMs: number;
  finishedMs: number;
  nodes: NodeSummary[];
}

/** The run summary from the final node records. */
export function buildSummary(i: SummaryInput): RunSummary {
  const counts = countStatuses(i.nodes);
  let status: RunStatus = 'succeeded';
  if (i.cancelled) status = 'cancelled';
  else if (counts.failed > 0 || counts.cancelled > 0) status = 'failed';
  return {
    run_id: i.runId,
    workflow: i.workflow,
    status,
    budget: { n_procs: i.budget.n_procs, memory_gb: i.budget.mem_gb, ...namedPart(i.budget.resources) },
    scheduler: i.order,
    started_ms: i.startedMs,
    finished_ms: i.finishedMs,
    wall_s: (i.finishedMs - i.startedMs) / 1000,
    counts,
    failures: listFailures(i.nodes),
    memory_warnings: memoryWarnings(i.nodes),
    nodes: i.nodes,
  };
}

/** `{resources}` when `named` has a resource with slots; else nothing. */
function namedPart(named: Readonly<Record<string, number>> | undefined): { resources?: Record<string, number> } {
  const kept = Object.entries(named ?? {}).filter(([, n]) => n > 0);
  return kept.length > 0 ? { resources: Object.fromEntries(kept) } : {};
}

/** The run-level part of a summary, as stored in the run's meta (its nodes are stored one by one). */
export type SummaryHead = Omit<RunSummary, 'failures' | 'memory_warnings' | 'nodes'> & { node_count: number };

/** The run-level part of `s`: a few hundred bytes whatever the number of nodes. */
export function summaryHead(s: RunSummary): SummaryHead {
  return {
    run_id: s.run_id,
    workflow: s.workflow,
    status: s.status,
    budget: s.budget,
    scheduler: s.scheduler,
    started_ms: s.started_ms,
    finished_ms: s.finished_ms,
    wall_s: s.wall_s,
    counts: s.counts,
    node_count: s.nodes.length,
  };
}

/** The whole summary from its run-level part and its nodes (failures and memory warnings are derived from them). */
export function summaryFromParts(head: Omit<SummaryHead, 'node_count'>, nodes: NodeSummary[]): RunSummary {
  const { run_id, workflow, status, budget, scheduler, started_ms, finished_ms, wall_s, counts } = head;
  return { run_id, workflow, status, budget, scheduler, started_ms, finished_ms, wall_s, counts, failures: listFailures(nodes), memory_warnings: memoryWarnings(nodes), nodes };
}

/**
 * The summary's JSON text in chunks, node by node (`JSON.stringify(s, null,
 * indent)` plus a final newline), so a large run is never one string.
 */
export async function* summaryJsonChunks(s: RunSummary, indent = 0): AsyncGenerator<string> {
  yield* jsonChunks(s as unknown as Record<string, unknown>, 'nodes', s.nodes, indent);
  yield '\n';
}

/** Counts nodes by final status. */
export function countStatuses(nodes: readonly NodeSummary[]): Record<NodeFinalStatus, number> {
  const counts: Record<NodeFinalStatus, number> = { succeeded: 0, failed: 0, skipped: 0, cached: 0, cancelled: 0 };
  for (const n of nodes) {
    if (n.status in counts) counts[n.status as NodeFinalStatus]++;
  }
  return counts;
}

/** Lists failures with the descendants each one caused to be skipped. */
export function listFailures(nodes: readonly NodeSummary[]): FailureSummary[] {
  const skippedBy = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.status === 'skipped' && n.skipped_because !== null) {
      const list = skippedBy.get(n.skipped_because) ?? [];
      list.push(n.id);
      skippedBy.set(n.skipped_because, list);
    }
  }
  return nodes
    .filter((n) => n.status === 'failed')
    .map((n) => ({ node: n.id, reason: n.reason ?? 'failed', crash_file: n.crash_file, skipped: skippedBy.get(n.id) ?? [], node_dir: n.node_dir, stderr_tail: n.stderr_tail ?? '' }));
}

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

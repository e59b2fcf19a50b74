/**
 * The run summary: what `--json` prints and what is stored with the run.
 */
import { jsonChunks } from '../shared/json-stream.js';
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

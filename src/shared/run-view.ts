/**
 * Read-only views of runs as Redis holds them, for the board's JSON API and
 * metrics, `flowgate status` and `submit --wait`: every one of them shows a
 * node's state and a run's status through effective-state.ts, so they all
 * tell the same story (the readers that fetch what they need from Redis are
 * in run-reader.ts). Nothing here writes; every reader tolerates fields that
 * are missing (an older run, a run only submitted, a scheduler mid-write).
 * The pure parts (counting, the ledger timeline, failures) are exported for
 * tests.
 */
import type { LedgerPoint } from './ledger-timeline.js';
import { isObject, num, parseJsonOrUndefined, str } from './json.js';
import { maskSecretEnv } from './secrets.js';
import type { FailureView } from './run-failures.js';
import { namedField, parseNamed, parseSlots, type NamedAmounts, type SlotMap } from './named-view.js';
import { NODE_STATE_NAMES, continueCommand, effectiveNodeState, recordTimes, runStatus, type NodeStateName, type RunStatusName } from './effective-state.js';

export { buildTimeline, type LedgerPoint } from './ledger-timeline.js';
export { listFailureViews, readCrashRecord, type FailureView } from './run-failures.js';

/** A run budget as stored: `{n_procs, memory_gb}`, and `resources` (`{gpu: 2}`) when the run has named resources. */
export interface RunBudget {
  n_procs: number;
  memory_gb: number;
  resources?: NamedAmounts;
}

/** Threads and memory, with named resources in slots when there are any. */
export interface Amounts {
  n_procs: number;
  mem_gb: number;
  resources?: NamedAmounts;
}

/** One finished attempt of a node, as its record keeps it (see the run summary's `attempt_history`). */
export interface AttemptView {
  attempt: number;
  /** `succeeded`, `failed`, `killed` (ran again), `cancelled`, or `lost` (its host stopped heartbeating; placed again). */
  status: string;
  reason: string | null;
  worker: string | null;
  start_ms: number | null;
  end_ms: number | null;
}

/** One run in the list (`GET /api/runs`). */
export interface RunListItem {
  run_id: string;
  workflow: string;
  status: RunStatusName;
  started_ms: number;
  finished_ms: number | null;
  wall_s: number | null;
  /** Nodes in the run's definition. */
  total: number;
  /** Nodes by state; every state is present. */
  counts: Record<NodeStateName, number>;
  budget: RunBudget;
  /** `run`: driven by `flowgate run`; `service`: submitted to the scheduler service. */
  mode: 'run' | 'service';
  /** For an orphaned run, the command that continues it (`flowgate resume ID`); else null. */
  continue_with: string | null;
}

/** One node of a run (`GET /api/runs/:id` → `nodes[]`). */
export interface NodeView {
  id: string;
  needs: string[];
  n_procs: number;
  mem_gb: number;
  /** Declared named resources (`{gpu: 1}`); `{}` when none. */
  resources: NamedAmounts;
  /** What was reserved (the request clamped to the budget), named resources included; null before admission. */
  granted: Amounts | null;
  /** The host its current (or last) attempt was placed on (per-host placement); else null. */
  host: string | null;
  /** The named resource slots it holds or held (`{gpu: [1]}`: CUDA device 1); null when none. */
  slots: SlotMap | null;
  state: NodeStateName;
  admitted_ms: number | null;
  released_ms: number | null;
  start_ms: number | null;
  end_ms: number | null;
  worker: string | null;
  exit_code: number | null;
  signal: string | null;
  /** Executions, killed ones included. */
  attempts: number;
  /** The current attempt (admission) number; attempt logs are numbered by it. */
  attempt: number;
  crash_file: string | null;
  skipped_because: string | null;
  reason: string | null;
  node_dir: string | null;
  cpu_s: number | null;
  peak_rss_mb: number | null;
  /** The node's extra environment, secret-looking values masked ({@link maskSecretEnv}). */
  env: Record<string, string>;
  /** The cache check: taken from the cache (`hit`), or why the node ran; null before it was ready. */
  cache: { hit: boolean; reasons: string[] } | null;
  /** Every finished attempt, oldest first (killed and lost executions included). */
  attempt_history: AttemptView[];
  /**
   * How its worker says the node ended, while its scheduler has not applied
   * it yet (the node is still `running`, holding its resources); else null.
   */
  finishing: 'succeeded' | 'failed' | null;
}

/** The scheduler's ready-queue snapshot (`<prefix>:fg:run:<id>:waiting`). */
export interface WaitingSnapshot {
  at_ms: number;
  /** The ledger's budget (the service's or the live hosts' sum when shared), named resources included. */
  budget: Amounts;
  free: Amounts;
  waiting: Array<{ id: string; reason: string }>;
  /** The node queue was paused when the snapshot was taken (its queued nodes are listed with that reason). */
  queue_paused: boolean;
}

/** The run's resource ledger over time. */
export interface LedgerView {
  budget: RunBudget;
  /** What `rss_gb` means, for chart legends. */
  rss_label: 'measured peak RSS';
  timeline: LedgerPoint[];
}

/** Everything about one run (`GET /api/runs/:id`). */
export interface RunDetail extends RunListItem {
  scheduler: string;
  options: Record<string, unknown>;
  nodes: NodeView[];
  waiting: WaitingSnapshot | null;
  ledger: LedgerView;
  failures: FailureView[];
  /** The stored run summary once the run finished; else null. */
  summary: Record<string, unknown> | null;
  /** Whether the node queue is paused: admitted nodes stay queued until it is resumed. */
  queue_paused: boolean;
}

/**
 * One run without its nodes (`GET /api/runs/:id`); its nodes are paged by
 * `GET /api/runs/:id/nodes`. `failures` holds the first 100 (`failures_total`
 * counts them all), each naming at most 100 skipped nodes (`skipped_total`).
 */
export interface RunOverview extends Omit<RunDetail, 'nodes' | 'failures'> {
  failures: Array<FailureView & { skipped_total: number }>;
  failures_total: number;
  /**
   * When the run was read from Redis (epoch ms; a running run's ledger ends
   * here): the board answers a finished run from memory until the run
   * changes, and a running one for a short while, so the data may be older
   * than the answer.
   */
  as_of_ms: number;
}

/** One page of a run's nodes (`GET /api/runs/:id/nodes`). */
export interface NodePage {
  run_id: string;
  /** Nodes in the run, or with the asked state when filtered. */
  total: number;
  offset: number;
  limit: number;
  /** The state asked for; null for every node. */
  state: NodeStateName | null;
  /** The nodes, in index order (the definition's first, then map elements). */
  nodes: NodeView[];
}

/** A node as the definition (`meta.definition`) holds it. */
export interface DefinitionNode {
  id: string;
  needs?: string[];
  n_procs?: number;
  mem_gb?: number;
  /** Declared named resources. */
  resources?: NamedAmounts;
  /** Already masked. */
  env?: Record<string, string>;
}

/** Counts node states; nodes without a state count as `waiting`; unknown states are ignored. */
export function countStates(states: readonly (string | undefined)[]): Record<NodeStateName, number> {
  const counts = Object.fromEntries(NODE_STATE_NAMES.map((s) => [s, 0])) as Record<NodeStateName, number>;
  for (const s of states) {
    const state = s ?? 'waiting';
    if (state in counts) counts[state as NodeStateName]++;
  }
  return counts;
}

/** The budget from `meta.budget`. */
export function parseBudget(raw: string | null | undefined): RunBudget {
  const b = parseJsonOrUndefined(raw);
  if (!isObject(b)) return { n_procs: 0, memory_gb: 0 };
  return { n_procs: num(b['n_procs']) ?? 0, memory_gb: num(b['memory_gb']) ?? 0, ...namedField(parseNamed(b['resources'])) };
}

/** Nodes of `meta.definition`, in file order (their index is their position). */
export function definitionNodes(raw: string | null | undefined): DefinitionNode[] {
  const d = parseJsonOrUndefined(raw);
  if (!isObject(d) || !Array.isArray(d['nodes'])) return [];
  return (d['nodes'] as unknown[]).filter(isObject).map((n) => ({
    id: String(n['id']),
    needs: Array.isArray(n['needs']) ? n['needs'].map(String) : [],
    n_procs: num(n['n_procs']) ?? 1,
    mem_gb: num(n['mem_gb']) ?? 0,
    resources: parseNamed(n['resources']),
    // Masked here, where the definition is first read, so no view can show a secret.
    env: maskSecretEnv(n['env']),
  }));
}

/** A list item from the meta fields, the nodes' shown states and the run's shown status. */
export function listItem(meta: Readonly<Record<string, string | null | undefined>>, states: readonly (string | undefined)[], runId: string, status: RunStatusName = runStatus(meta['status'])): RunListItem {
  const started = num(meta['started_ms']) ?? 0;
  const finished = num(meta['finished_ms']);
  const id = meta['run_id'] ?? runId;
  return {
    run_id: id,
    workflow: meta['workflow'] ?? '',
    status,
    started_ms: started,
    finished_ms: finished,
    wall_s: finished === null ? null : (finished - started) / 1000,
    total: states.length,
    counts: countStates(states),
    budget: parseBudget(meta['budget']),
    mode: meta['mode'] === 'service' ? 'service' : 'run',
    continue_with: continueCommand(id, status),
  };
}

/** One node's view from its definition, stored state, stored record (JSON) and its worker's claim (JSON). */
export function nodeView(def: DefinitionNode, state: string | undefined, recordJson: string | undefined, claimJson?: string): NodeView {
  const r = parseJsonOrUndefined(recordJson);
  const rec = isObject(r) ? r : {};
  const g = rec['granted'];
  const granted = isObject(g) && num(g['n_procs']) !== null && num(g['mem_gb']) !== null ? { n_procs: num(g['n_procs']) ?? 0, mem_gb: num(g['mem_gb']) ?? 0, ...namedField(parseNamed(g['resources'])) } : null;
  const shown = effectiveNodeState(state, recordTimes(recordJson), claimJson);
  return {
    id: def.id,
    needs: def.needs ?? [],
    n_procs: def.n_procs ?? 1,
    mem_gb: def.mem_gb ?? 0,
    resources: def.resources ?? parseNamed(rec['resources']),
    granted,
    host: str(rec['host']),
    slots: parseSlots(rec['slots']),
    state: shown.state,
    admitted_ms: num(rec['admitted_ms']),
    released_ms: num(rec['released_ms']),
    start_ms: shown.start_ms,
    end_ms: shown.end_ms,
    worker: shown.worker,
    exit_code: num(rec['exit_code']),
    signal: str(rec['signal']),
    attempts: num(rec['attempts']) ?? 0,
    attempt: num(rec['attempt']) ?? num(rec['attempts']) ?? 0,
    crash_file: str(rec['crash_file']),
    skipped_because: str(rec['skipped_because']),
    reason: str(rec['reason']),
    node_dir: str(rec['node_dir']),
    cpu_s: num(rec['cpu_s']),
    peak_rss_mb: num(rec['peak_rss_mb']),
    env: def.env ?? {},
    cache: cacheOf(rec['cache']),
    attempt_history: attemptsOf(rec['attempt_history']),
    finishing: shown.finishing,
  };
}

/** A waiting snapshot from its JSON; null when absent or malformed. */
export function parseWaiting(raw: string | null | undefined): WaitingSnapshot | null {
  const w = parseJsonOrUndefined(raw);
  if (!isObject(w) || !isObject(w['budget']) || !isObject(w['free'])) return null;
  const res = (o: Record<string, unknown>): Amounts => ({ n_procs: num(o['n_procs']) ?? 0, mem_gb: num(o['mem_gb']) ?? 0, ...namedField(parseNamed(o['resources'])) });
  const list = Array.isArray(w['waiting']) ? (w['waiting'] as unknown[]).filter(isObject) : [];
  return {
    at_ms: num(w['at_ms']) ?? 0,
    budget: res(w['budget']),
    free: res(w['free']),
    waiting: list.map((e) => ({ id: String(e['id']), reason: String(e['reason'] ?? '') })),
    queue_paused: w['queue_paused'] === true,
  };
}

/** The attempt history of a record: the fields a view shows, entries that are not objects dropped. */
function attemptsOf(v: unknown): AttemptView[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isObject).map((a) => ({ attempt: num(a['attempt']) ?? 0, status: str(a['status']) ?? 'unknown', reason: str(a['reason']), worker: str(a['worker']), start_ms: num(a['start_ms']), end_ms: num(a['end_ms']) }));
}

function cacheOf(v: unknown): { hit: boolean; reasons: string[] } | null {
  if (typeof v !== 'object' || v === null) return null;
  const c = v as { hit?: unknown; reasons?: unknown };
  return { hit: c.hit === true, reasons: Array.isArray(c.reasons) ? c.reasons.filter((r): r is string => typeof r === 'string') : [] };
}

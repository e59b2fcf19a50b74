/**
 * Read-only views of runs as Redis holds them, for the board's JSON API and
 * `flowgate status`. Nothing here writes; every reader tolerates fields that
 * are missing (an older run, a run only submitted, a scheduler mid-write).
 * The pure parts (counting, the ledger timeline, failures) are exported for
 * tests.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';
import { buildTimeline, type LedgerPoint } from './ledger-timeline.js';
import { parseJsonOrUndefined } from './json.js';
import { maskEnvDeep, maskSecretEnv } from './secrets.js';

export { buildTimeline, type LedgerPoint } from './ledger-timeline.js';

/** Every state a node can be in (the scheduler's state machine, mirrored). */
export const NODE_STATE_NAMES = ['waiting', 'ready', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'cached', 'cancelled'] as const;
/** A node state. */
export type NodeStateName = (typeof NODE_STATE_NAMES)[number];
/** Statuses a run is listed with. */
export const RUN_STATUSES = ['submitted', 'running', 'succeeded', 'failed', 'cancelled'] as const;
/** A run's status. */
export type RunStatusName = (typeof RUN_STATUSES)[number];
/** Node states that will not change again. */
export const FINAL_NODE_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'skipped', 'cached', 'cancelled']);

/** A run budget as stored: `{n_procs, memory_gb}`. */
export interface RunBudget {
  n_procs: number;
  memory_gb: number;
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
}

/** One node of a run (`GET /api/runs/:id` → `nodes[]`). */
export interface NodeView {
  id: string;
  needs: string[];
  n_procs: number;
  mem_gb: number;
  /** What was reserved (the request clamped to the budget); null before admission. */
  granted: { n_procs: number; mem_gb: number } | null;
  state: NodeStateName;
  admitted_ms: number | null;
  released_ms: number | null;
  start_ms: number | null;
  end_ms: number | null;
  worker: string | null;
  exit_code: number | null;
  signal: string | null;
  attempts: number;
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
}

/** The scheduler's ready-queue snapshot (`<prefix>:fg:run:<id>:waiting`). */
export interface WaitingSnapshot {
  at_ms: number;
  budget: { n_procs: number; mem_gb: number };
  free: { n_procs: number; mem_gb: number };
  waiting: Array<{ id: string; reason: string }>;
}

/** The run's resource ledger over time. */
export interface LedgerView {
  budget: RunBudget;
  /** What `rss_gb` means, for chart legends. */
  rss_label: 'measured peak RSS';
  timeline: LedgerPoint[];
}

/** A failed node with its crash record and what it took down. */
export interface FailureView {
  node: string;
  reason: string;
  crash_file: string | null;
  /** The crash record's JSON, when the file could be read; else null. */
  crash: Record<string, unknown> | null;
  /** Ids of the nodes skipped because this one failed. */
  skipped: string[];
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
}

/** A node as the definition (`meta.definition`) holds it. */
interface DefinitionNode {
  id: string;
  needs?: string[];
  n_procs?: number;
  mem_gb?: number;
  /** Already masked. */
  env?: Record<string, string>;
}

const LIST_FIELDS = ['run_id', 'workflow', 'status', 'started_ms', 'finished_ms', 'budget', 'mode'] as const;
/** Crash records larger than this are not parsed. */
const MAX_CRASH_BYTES = 256 * 1024;
/** Crash records read for one run at most. */
const MAX_CRASH_READS = 50;


function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
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

/** The run status from `meta.status` (unknown values read as `running`). */
export function runStatus(raw: string | null | undefined): RunStatusName {
  return (RUN_STATUSES as readonly string[]).includes(raw ?? '') ? (raw as RunStatusName) : 'running';
}

/** The budget from `meta.budget`. */
export function parseBudget(raw: string | null | undefined): RunBudget {
  const b = parseJsonOrUndefined(raw);
  return { n_procs: isObject(b) ? (num(b['n_procs']) ?? 0) : 0, memory_gb: isObject(b) ? (num(b['memory_gb']) ?? 0) : 0 };
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
    // Masked here, where the definition is first read, so no view can show a secret.
    env: maskSecretEnv(n['env']),
  }));
}

/** A list item from the meta fields and the node states. */
export function listItem(meta: Readonly<Record<string, string | null | undefined>>, states: readonly (string | undefined)[], runId: string): RunListItem {
  const started = num(meta['started_ms']) ?? 0;
  const finished = num(meta['finished_ms']);
  return {
    run_id: meta['run_id'] ?? runId,
    workflow: meta['workflow'] ?? '',
    status: runStatus(meta['status']),
    started_ms: started,
    finished_ms: finished,
    wall_s: finished === null ? null : (finished - started) / 1000,
    total: states.length,
    counts: countStates(states),
    budget: parseBudget(meta['budget']),
    mode: meta['mode'] === 'service' ? 'service' : 'run',
  };
}

/** One node's view from its definition, state and stored record (JSON). */
export function nodeView(def: DefinitionNode, state: string | undefined, recordJson: string | undefined): NodeView {
  const r = parseJsonOrUndefined(recordJson);
  const rec = isObject(r) ? r : {};
  const g = rec['granted'];
  const granted = isObject(g) && num(g['n_procs']) !== null && num(g['mem_gb']) !== null ? { n_procs: num(g['n_procs']) ?? 0, mem_gb: num(g['mem_gb']) ?? 0 } : null;
  return {
    id: def.id,
    needs: def.needs ?? [],
    n_procs: def.n_procs ?? 1,
    mem_gb: def.mem_gb ?? 0,
    granted,
    state: (NODE_STATE_NAMES as readonly string[]).includes(state ?? '') ? (state as NodeStateName) : 'waiting',
    admitted_ms: num(rec['admitted_ms']),
    released_ms: num(rec['released_ms']),
    start_ms: num(rec['start_ms']),
    end_ms: num(rec['end_ms']),
    worker: str(rec['worker']),
    exit_code: num(rec['exit_code']),
    signal: str(rec['signal']),
    attempts: num(rec['attempts']) ?? 0,
    crash_file: str(rec['crash_file']),
    skipped_because: str(rec['skipped_because']),
    reason: str(rec['reason']),
    node_dir: str(rec['node_dir']),
    cpu_s: num(rec['cpu_s']),
    peak_rss_mb: num(rec['peak_rss_mb']),
    env: def.env ?? {},
    cache: cacheOf(rec['cache']),
  };
}

/** Failed nodes with the nodes each one took down (crash records not read yet). */
export function listFailureViews(nodes: readonly NodeView[]): FailureView[] {
  const skippedBy = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.state !== 'skipped' || n.skipped_because === null) continue;
    const list = skippedBy.get(n.skipped_because) ?? [];
    list.push(n.id);
    skippedBy.set(n.skipped_because, list);
  }
  return nodes
    .filter((n) => n.state === 'failed')
    .map((n) => ({ node: n.id, reason: n.reason ?? 'failed', crash_file: n.crash_file, crash: null, skipped: skippedBy.get(n.id) ?? [] }));
}

/** A waiting snapshot from its JSON; null when absent or malformed. */
export function parseWaiting(raw: string | null | undefined): WaitingSnapshot | null {
  const w = parseJsonOrUndefined(raw);
  if (!isObject(w) || !isObject(w['budget']) || !isObject(w['free'])) return null;
  const res = (o: Record<string, unknown>): { n_procs: number; mem_gb: number } => ({ n_procs: num(o['n_procs']) ?? 0, mem_gb: num(o['mem_gb']) ?? 0 });
  const list = Array.isArray(w['waiting']) ? (w['waiting'] as unknown[]).filter(isObject) : [];
  return {
    at_ms: num(w['at_ms']) ?? 0,
    budget: res(w['budget']),
    free: res(w['free']),
    waiting: list.map((e) => ({ id: String(e['id']), reason: String(e['reason'] ?? '') })),
  };
}

/** A crash record, best-effort: only a `crash-*.json` file of at most 256 KB; else null. */
export async function readCrashRecord(path: string | null): Promise<Record<string, unknown> | null> {
  if (path === null || !/^crash-.*\.json$/.test(basename(path))) return null;
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_CRASH_BYTES) return null;
      const record = parseJsonOrUndefined(await fh.readFile('utf8'));
      return isObject(record) ? record : null;
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/** Runs, newest first (at most `limit`, default 50, capped at 1000). */
export async function listRuns(redis: Redis, prefix: string, opts: { limit?: number } = {}): Promise<RunListItem[]> {
  const limit = Math.max(1, Math.min(1000, Math.floor(opts.limit ?? 50)));
  return readRunItems(redis, prefix, await redis.zrevrange(new Keys(prefix).runs(), 0, limit - 1));
}

/** List items of the given runs, in the same order; runs whose meta is gone are left out. */
export async function readRunItems(redis: Redis, prefix: string, ids: readonly string[]): Promise<RunListItem[]> {
  if (ids.length === 0) return [];
  const keys = new Keys(prefix);
  const pipe = redis.pipeline();
  for (const id of ids) pipe.hmget(keys.runMeta(id), ...LIST_FIELDS).hvals(keys.runStates(id));
  const replies = (await pipe.exec()) ?? [];
  const found: Array<{ id: string; meta: Record<string, string | null>; states: string[] }> = [];
  ids.forEach((id, i) => {
    const [metaErr, metaValues] = replies[2 * i] ?? [];
    const [statesErr, states] = replies[2 * i + 1] ?? [];
    if (metaErr || statesErr) throw metaErr ?? statesErr;
    const values = metaValues as Array<string | null>;
    if (values[0] === null) return; // meta gone: the run was deleted
    found.push({ id, meta: Object.fromEntries(LIST_FIELDS.map((f, j) => [f, values[j] ?? null])), states: states as string[] });
  });
  // A submitted run has no states yet: its nodes come from the definition, all waiting.
  const bare = found.filter((r) => r.states.length === 0);
  const defs = await Promise.all(bare.map((r) => redis.hget(keys.runMeta(r.id), 'definition')));
  bare.forEach((r, i) => (r.states = definitionNodes(defs[i]).map(() => 'waiting')));
  return found.map((r) => listItem(r.meta, r.states, r.id));
}

/** One run in full; undefined when there is no such run. */
export async function readRun(redis: Redis, prefix: string, runId: string, now = Date.now()): Promise<RunDetail | undefined> {
  const keys = new Keys(prefix);
  const [meta, states, records, waitingRaw] = await Promise.all([
    redis.hgetall(keys.runMeta(runId)),
    redis.hgetall(keys.runStates(runId)),
    redis.hgetall(keys.runNodes(runId)),
    redis.get(keys.runWaiting(runId)),
  ]);
  if (meta['run_id'] === undefined) return undefined;
  const defs = definitionNodes(meta['definition']);
  const nodes = defs.map((d, i) => nodeView(d, states[String(i)], records[String(i)]));
  // Elements of map nodes follow the definition's nodes; each feeds its map node.
  for (let i = defs.length; records[String(i)] !== undefined; i++) {
    const rec = parseJsonOrUndefined(records[String(i)]);
    const r = isObject(rec) ? rec : {};
    const id = str(r['id']) ?? `#${i}`;
    const parent = nodes.find((n) => n.id === str(r['element_of']));
    // An element runs with its map node's environment (already masked).
    nodes.push(nodeView({ id, n_procs: num(r['n_procs']) ?? 1, mem_gb: num(r['mem_gb']) ?? 0, env: parent?.env ?? {} }, states[String(i)], records[String(i)]));
    parent?.needs.push(id);
  }
  const item = listItem(meta, nodes.map((n) => n.state), runId);
  const failures = listFailureViews(nodes);
  // Crash records and the summary are shown as stored: any env in them is masked too.
  await Promise.all(failures.slice(0, MAX_CRASH_READS).map(async (f) => (f.crash = maskEnvDeep(await readCrashRecord(f.crash_file)) as Record<string, unknown> | null)));
  const options = parseJsonOrUndefined(meta['options']);
  const summary = item.finished_ms !== null ? parseJsonOrUndefined(meta['summary']) : undefined;
  return {
    ...item,
    scheduler: meta['scheduler'] ?? 'tsort',
    options: isObject(options) ? options : {},
    nodes,
    waiting: parseWaiting(waitingRaw),
    ledger: { budget: item.budget, rss_label: 'measured peak RSS', timeline: buildTimeline(nodes, item.finished_ms ?? now) },
    failures,
    summary: isObject(summary) ? (maskEnvDeep(summary) as Record<string, unknown>) : null,
  };
}

function cacheOf(v: unknown): { hit: boolean; reasons: string[] } | null {
  if (typeof v !== 'object' || v === null) return null;
  const c = v as { hit?: unknown; reasons?: unknown };
  return { hit: c.hit === true, reasons: Array.isArray(c.reasons) ? c.reasons.filter((r): r is string => typeof r === 'string') : [] };
}

/**
 * Pure parts of the multi-host benchmark (`bench/multihost.ts`): host layouts,
 * which nodes fit one host, a workload clamped to the smallest host, its lower
 * bound, the per-host peak of held resources on the workers' clocks, and what
 * a kill-one-host drill did to the nodes. No I/O here.
 */
import type { RunSummary } from '../src/scheduler/summary.js';
import { peakDeclared, type Peak, type TimedNode } from './metrics.js';

/** K simulated hosts sharing a total budget equally. */
export interface Layout {
  /** `KxP`, e.g. `4x2`. */
  name: string;
  hosts: number;
  /** Threads of each host. */
  procs: number;
  /** Memory of each host in GB: the workload's budget / hosts. */
  memGb: number;
}

/**
 * Parses `1x8,2x4,4x2` against a workload budget: every layout must use all
 * `totalProcs` (hosts x procs) and gets `totalMemGb / hosts` per host.
 */
export function parseLayouts(spec: string, totalProcs: number, totalMemGb: number): Layout[] {
  return spec.split(',').map((raw) => {
    const s = raw.trim();
    const m = /^(\d+)x(\d+)$/.exec(s);
    if (m === null) throw new Error(`--layouts: "${s}" is not HOSTSxPROCS (e.g. 2x4)`);
    const hosts = Number(m[1]);
    const procs = Number(m[2]);
    if (hosts < 1 || procs < 1) throw new Error(`--layouts: "${s}" needs at least 1 host of 1 proc`);
    if (hosts * procs !== totalProcs) throw new Error(`--layouts: "${s}" has ${hosts * procs} procs in all, the workload's budget is ${totalProcs}`);
    return { name: s, hosts, procs, memGb: totalMemGb / hosts };
  });
}

/** A workflow node as the benchmark workloads write it. */
export interface BenchNode {
  id: string;
  command: string[] | string;
  needs?: string[];
  n_procs?: number;
  mem_gb?: number;
}

/** A benchmark workflow file. */
export interface BenchWorkflow {
  name: string;
  nodes: BenchNode[];
}

/** Default declared resources of a node without them (flowgate's defaults). */
const DEFAULT_PROCS = 1;
const DEFAULT_MEM_GB = 0.2;

function procsOf(n: BenchNode): number {
  return n.n_procs ?? DEFAULT_PROCS;
}

function memOf(n: BenchNode): number {
  return n.mem_gb ?? DEFAULT_MEM_GB;
}

/** Ids of the nodes that need more threads or memory than one host of `layout` has. */
export function misfits(wf: BenchWorkflow, layout: Layout): string[] {
  return wf.nodes.filter((n) => procsOf(n) > layout.procs || memOf(n) > layout.memGb + 1e-9).map((n) => n.id);
}

/**
 * The workflow with every node's threads and memory capped at one host's
 * (`procs`, `memGb`): what a fleet of such hosts can run at all. Durations and
 * edges are unchanged.
 */
export function clampToHost(wf: BenchWorkflow, procs: number, memGb: number, name: string): BenchWorkflow {
  return { name, nodes: wf.nodes.map((n) => ({ ...n, n_procs: Math.min(procsOf(n), procs), mem_gb: Math.min(memOf(n), memGb) })) };
}

/** Duration of a `sleep S` node in seconds; null for anything else. */
export function sleepSeconds(n: BenchNode): number | null {
  const argv = Array.isArray(n.command) ? n.command : n.command.trim().split(/\s+/);
  if (argv.length !== 2 || argv[0] !== 'sleep') return null;
  const s = Number(argv[1]);
  return Number.isFinite(s) && s >= 0 ? s : null;
}

/** The parts of a makespan lower bound (seconds). */
export interface LowerBound {
  critical_path_s: number;
  /** Sum of duration x threads / total threads. */
  proc_work_s: number;
  /** Sum of duration x memory / total memory. */
  mem_work_s: number;
  /** The largest of the three. */
  lower_bound_s: number;
}

/**
 * The lower bound the workload metas use, for a pooled budget of `nProcs` /
 * `memGb`: max(critical path, thread work / threads, memory work / memory).
 * Splitting the budget over hosts only constrains placement further, so it
 * bounds every layout of the same total too (not tightly). Throws for a node
 * whose duration is not known (not `sleep S`).
 */
export function lowerBound(wf: BenchWorkflow, nProcs: number, memGb: number): LowerBound {
  const byId = new Map(wf.nodes.map((n) => [n.id, n]));
  const dur = (n: BenchNode): number => {
    const s = sleepSeconds(n);
    if (s === null) throw new Error(`node ${n.id}: no known duration (only "sleep S" nodes have one)`);
    return s;
  };
  const finish = new Map<string, number>();
  // Nodes in dependency order: the workloads list predecessors first, but do not rely on it.
  const visit = (id: string, depth: number): number => {
    const done = finish.get(id);
    if (done !== undefined) return done;
    if (depth > wf.nodes.length) throw new Error(`dependency cycle through ${id}`);
    const n = byId.get(id);
    if (n === undefined) throw new Error(`unknown node ${id} in needs`);
    let before = 0;
    for (const p of n.needs ?? []) before = Math.max(before, visit(p, depth + 1));
    const f = before + dur(n);
    finish.set(id, f);
    return f;
  };
  let cp = 0;
  let procWork = 0;
  let memWork = 0;
  for (const n of wf.nodes) {
    cp = Math.max(cp, visit(n.id, 0));
    procWork += dur(n) * procsOf(n);
    memWork += dur(n) * memOf(n);
  }
  const b = { critical_path_s: cp, proc_work_s: procWork / nProcs, mem_work_s: memWork / memGb };
  return { ...b, lower_bound_s: Math.max(b.critical_path_s, b.proc_work_s, b.mem_work_s) };
}

/** A summary node with where it ran (the parts these checks read). */
export interface PlacedNode extends TimedNode {
  readonly status: string;
  readonly host?: string;
  readonly worker: string | null;
  readonly stalls?: number;
  readonly attempt_history: ReadonlyArray<{
    readonly status: string;
    readonly reason: string | null;
    readonly start_ms: number | null;
    readonly end_ms: number | null;
    readonly worker: string | null;
  }>;
}

/** One host's peak of held resources against its capacity. */
export interface HostPeak {
  host: string;
  nodes: number;
  peak: Peak;
  capacity: { n_procs: number; mem_gb: number };
  within: boolean;
}

/**
 * Per host of `layout` (`h1`..`hK`): the peak of the granted threads and
 * memory of the nodes that ran there, over their worker-stamped process
 * intervals (the same sweep as `peakDeclared`), and whether it stayed within
 * the host's capacity. Nodes placed on a host outside the layout get a row of
 * their own with capacity 0 (never within).
 */
export function perHostPeaks(nodes: readonly PlacedNode[], layout: Layout): HostPeak[] {
  const ids = Array.from({ length: layout.hosts }, (_, i) => `h${i + 1}`);
  const hosts = [...new Set([...ids, ...nodes.flatMap((n) => (n.host === undefined ? [] : [n.host]))])];
  return hosts.map((host) => {
    const mine = nodes.filter((n) => n.host === host);
    const peak = peakDeclared(mine);
    const known = ids.includes(host);
    const capacity = known ? { n_procs: layout.procs, mem_gb: layout.memGb } : { n_procs: 0, mem_gb: 0 };
    const within = peak.n_procs <= capacity.n_procs && Math.round(peak.mem_gb * 1e6) <= Math.round(capacity.mem_gb * 1e6);
    return { host, nodes: mine.length, peak, capacity, within };
  });
}

/** Nodes that ran without a host, or on a worker not named after their host (`<host>-w<i>`). */
export function misplaced(nodes: readonly PlacedNode[]): string[] {
  return nodes.filter((n) => n.start_ms !== null && (n.host === undefined || n.worker === null || !n.worker.startsWith(`${n.host}-w`))).map((n) => n.id);
}

/** First process start to last process end over the nodes, on the workers' clocks (seconds). */
export function workerSpanS(nodes: readonly TimedNode[]): number | null {
  let first = Infinity;
  let last = -Infinity;
  for (const n of nodes) {
    if (n.start_ms === null || n.end_ms === null) continue;
    first = Math.min(first, n.start_ms);
    last = Math.max(last, n.end_ms);
  }
  return Number.isFinite(first) ? (last - first) / 1000 : null;
}

/** What a kill-one-host drill did to the nodes of a run. */
export interface DrillNodes {
  succeeded: number;
  failed: number;
  /** Workflow nodes that never finished (no succeeded/failed/skipped/cached record). */
  lost: string[];
  /** Attempt history entries `lost`, over all nodes. */
  lost_entries: number;
  /** The reason recorded with the first `lost` entry. */
  lost_reason: string | null;
  /** Nodes placed again after their host was lost. */
  placed_again: string[];
  /** Hosts the placed-again nodes finished on. */
  placed_again_on: Record<string, number>;
  /** Each placed-again node's attempts (`status@worker`) and stalls. */
  placed_again_history: Array<{ id: string; attempts: string[]; stalls: number }>;
  /** Attempts on the killed host's workers that ended after the kill as succeeded or failed (should be none). */
  finished_on_killed_host_after_kill: string[];
  /** Earliest start and latest end of the placed-again nodes' final attempts (worker clock, ms). */
  replaced_first_start_ms: number | null;
  replaced_last_end_ms: number | null;
}

const FINISHED = new Set(['succeeded', 'failed', 'skipped', 'cached']);

/** Counts a drill's outcome from the summary nodes against the workflow's node ids. */
export function drillNodes(ids: readonly string[], nodes: readonly PlacedNode[], killed: { host: string; atMs: number }): DrillNodes {
  const onKilled = (worker: string | null): boolean => worker !== null && worker.startsWith(`${killed.host}-w`);
  const attempts = nodes.flatMap((n) => n.attempt_history.map((a) => ({ id: n.id, ...a })));
  const after = attempts.filter((a) => onKilled(a.worker) && (a.status === 'succeeded' || a.status === 'failed') && a.end_ms !== null && a.end_ms > killed.atMs);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const again = nodes.filter((n) => n.attempt_history.some((a) => a.status === 'lost'));
  const on: Record<string, number> = {};
  for (const n of again) on[n.host ?? '?'] = (on[n.host ?? '?'] ?? 0) + 1;
  const starts = again.flatMap((n) => (n.start_ms === null ? [] : [n.start_ms]));
  const ends = again.flatMap((n) => (n.end_ms === null ? [] : [n.end_ms]));
  return {
    succeeded: nodes.filter((n) => n.status === 'succeeded').length,
    failed: nodes.filter((n) => n.status === 'failed').length,
    lost: ids.filter((id) => !FINISHED.has(byId.get(id)?.status ?? 'missing')),
    lost_reason: nodes.flatMap((n) => n.attempt_history.filter((a) => a.status === 'lost').map((a) => a.reason))[0] ?? null,
    lost_entries: nodes.reduce((k, n) => k + n.attempt_history.filter((a) => a.status === 'lost').length, 0),
    placed_again: again.map((n) => n.id),
    placed_again_on: on,
    placed_again_history: again.map((n) => ({ id: n.id, attempts: n.attempt_history.map((a) => `${a.status}@${a.worker ?? '?'}`), stalls: n.stalls ?? 0 })),
    finished_on_killed_host_after_kill: after.map((a) => a.id),
    replaced_first_start_ms: starts.length > 0 ? Math.min(...starts) : null,
    replaced_last_end_ms: ends.length > 0 ? Math.max(...ends) : null,
  };
}

/** `x` rounded to `d` decimals (null stays null). */
export const round = (x: number | null, d = 3): number | null => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

/** One timed run of a layout, from its submit result. */
export interface RunRow {
  status: string;
  exit_code: number | null;
  run_wall_s: number | null;
  worker_span_s: number | null;
  process_wall_s: number;
  hosts_within_capacity: boolean;
  host_peaks: Array<{ host: string; nodes: number; peak_procs: number; peak_mem_gb: number; capacity: string }>;
  misplaced: string[];
  /** Nodes that did not run (cached, skipped, ...): a timed run must have none. */
  not_run: number;
  ok: boolean;
  error?: string;
}

/**
 * What a run of `nodes` nodes on `layout` gave: status, makespan (`wall_s`),
 * worker span, the per-host peaks, misplaced nodes; `ok` when it succeeded
 * with every node run, within every host and on its host's workers.
 */
export function runRow(res: { code: number | null; summary: RunSummary | null; stderr: string; processWallS: number }, layout: Layout, nodes: number): RunRow {
  const s = res.summary;
  if (s === null) return { status: 'error', exit_code: res.code, run_wall_s: null, worker_span_s: null, process_wall_s: round(res.processWallS) ?? 0, hosts_within_capacity: false, host_peaks: [], misplaced: [], not_run: nodes, ok: false, error: res.stderr.trim().slice(-600) };
  const peaks = perHostPeaks(s.nodes, layout);
  const wrong = misplaced(s.nodes);
  const within = peaks.every((p) => p.within);
  return {
    status: s.status,
    exit_code: res.code,
    run_wall_s: s.wall_s,
    worker_span_s: workerSpanS(s.nodes),
    process_wall_s: round(res.processWallS) ?? 0,
    hosts_within_capacity: within,
    host_peaks: peaks.map((p) => ({ host: p.host, nodes: p.nodes, peak_procs: p.peak.n_procs, peak_mem_gb: p.peak.mem_gb, capacity: `${p.capacity.n_procs}p/${p.capacity.mem_gb}g` })),
    misplaced: wrong,
    not_run: nodes - s.counts.succeeded,
    ok: s.status === 'succeeded' && res.code === 0 && within && wrong.length === 0 && s.counts.succeeded === nodes,
  };
}

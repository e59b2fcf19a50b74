/**
 * Pure metrics over a flowgate run summary, for the benchmark runner
 * (`bench/run.ts`). No I/O here: everything takes plain data and returns plain
 * data, so it can be unit-tested (`test/unit/bench-metrics.test.ts`).
 *
 * All times are the worker-stamped `start_ms` / `end_ms` of each node's own
 * process (integer milliseconds from `Date.now()` on the worker).
 */

/** The parts of a summary node (`NodeSummary`) these metrics read. */
export interface TimedNode {
  readonly id: string;
  readonly start_ms: number | null;
  readonly end_ms: number | null;
  readonly granted: { readonly n_procs: number; readonly mem_gb: number };
}

/** Dependency edges: node id -> ids of the nodes it needs (its predecessors). */
export type Predecessors = ReadonlyMap<string, readonly string[]>;

/** Summary statistics of a sample; every field is null for an empty sample. */
export interface Stats {
  n: number;
  p50: number | null;
  p95: number | null;
  mean: number | null;
  max: number | null;
}

/**
 * The p-th percentile (0 <= p <= 100) of `values`, by linear interpolation
 * between the closest ranks (numpy's default "linear" method): the 50th is
 * the median, the 0th the minimum and the 100th the maximum. Null when empty.
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within [0, 100], got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

/** n, p50, p95, mean and max of `values`. */
export function stats(values: readonly number[]): Stats {
  if (values.length === 0) return { n: 0, p50: null, p95: null, mean: null, max: null };
  let sum = 0;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    if (v > max) max = v;
  }
  return { n: values.length, p50: percentile(values, 50), p95: percentile(values, 95), mean: sum / values.length, max };
}

/**
 * Dispatch latency of every dependency hop, in ms: for each node with at least
 * one predecessor, `start_ms(node) - max(end_ms of its predecessors)`, i.e. the
 * time between the last predecessor's process exiting and this node's process
 * being started — the orchestration cost of one hop (for a chain of no-ops,
 * "orchestration per hop"). Nodes that did not run, or with a predecessor
 * without an `end_ms` (e.g. cached), are left out. Returned in summary order.
 */
export function hopLatencies(nodes: readonly TimedNode[], preds: Predecessors): number[] {
  const endById = new Map<string, number | null>();
  for (const n of nodes) endById.set(n.id, n.end_ms);
  const out: number[] = [];
  for (const n of nodes) {
    const needs = preds.get(n.id) ?? [];
    if (needs.length === 0 || n.start_ms === null) continue;
    let lastEnd = -Infinity;
    let complete = true;
    for (const p of needs) {
      const end = endById.get(p);
      if (end === undefined || end === null) {
        complete = false;
        break;
      }
      if (end > lastEnd) lastEnd = end;
    }
    if (complete) out.push(n.start_ms - lastEnd);
  }
  return out;
}

/** Actual duration of a node's process in ms (0 when it did not run). */
export function durationMs(n: TimedNode): number {
  return n.start_ms === null || n.end_ms === null ? 0 : Math.max(0, n.end_ms - n.start_ms);
}

/**
 * Length in ms of the longest dependency path, weighting each node by its
 * actual process duration (`end_ms - start_ms`; 0 for nodes that did not run).
 * This is the makespan an infinitely fast orchestrator with unlimited
 * resources would have achieved with the same node durations. Ids in `preds`
 * that are not in `nodes` are ignored; throws on a cycle.
 */
export function criticalPathMs(nodes: readonly TimedNode[], preds: Predecessors): number {
  const byId = new Map<string, TimedNode>();
  for (const n of nodes) byId.set(n.id, n);
  const finish = new Map<string, number>(); // longest path ending with (and including) the node
  const onStack = new Set<string>();
  let best = 0;
  // Iterative DFS (no recursion: chains can be thousands of nodes deep).
  for (const root of nodes) {
    if (finish.has(root.id)) continue;
    const stack: Array<{ id: string; i: number }> = [{ id: root.id, i: 0 }];
    onStack.add(root.id);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { id: string; i: number };
      const needs = (preds.get(top.id) ?? []).filter((p) => byId.has(p));
      if (top.i < needs.length) {
        const p = needs[top.i++] as string;
        if (finish.has(p)) continue;
        if (onStack.has(p)) throw new Error(`dependency cycle through "${p}"`);
        onStack.add(p);
        stack.push({ id: p, i: 0 });
        continue;
      }
      let before = 0;
      for (const p of needs) before = Math.max(before, finish.get(p) ?? 0);
      const f = before + durationMs(byId.get(top.id) as TimedNode);
      finish.set(top.id, f);
      if (f > best) best = f;
      onStack.delete(top.id);
      stack.pop();
    }
  }
  return best;
}

/** Peak of summed granted resources over time. */
export interface Peak {
  n_procs: number;
  mem_gb: number;
  /** Largest number of node processes running at one time. */
  concurrent: number;
}

const MICRO = 1_000_000; // memory is summed in micro-GB integers: no float drift against the budget

/**
 * Sweep line over the nodes' `[start_ms, end_ms]` process intervals: the
 * maximum over time of the sum of `granted` resources of the nodes running at
 * that time (each of n_procs, mem_gb and the node count maximised on its own).
 * An end and a start at the same ms do not overlap (ends are processed first).
 * A zero-length interval (start == end, a sub-millisecond process) is an
 * instant: it overlaps the intervals strictly containing it, and — by the same
 * rule — neither one ending nor one starting at that ms. Nodes that did not
 * run (no start or end) are ignored.
 */
export function peakDeclared(nodes: readonly TimedNode[]): Peak {
  // kind: 0 = end, 1 = instant (zero-length node), 2 = start; processed in that order at equal times.
  const events: Array<{ t: number; kind: 0 | 1 | 2; procs: number; mem: number }> = [];
  for (const n of nodes) {
    if (n.start_ms === null || n.end_ms === null) continue;
    const procs = n.granted.n_procs;
    const mem = Math.round(n.granted.mem_gb * MICRO);
    if (n.end_ms <= n.start_ms) {
      events.push({ t: n.start_ms, kind: 1, procs, mem });
    } else {
      events.push({ t: n.start_ms, kind: 2, procs, mem });
      events.push({ t: n.end_ms, kind: 0, procs, mem });
    }
  }
  events.sort((a, b) => a.t - b.t || a.kind - b.kind);
  let procs = 0;
  let mem = 0;
  let count = 0;
  let peakProcs = 0;
  let peakMem = 0;
  let peakCount = 0;
  for (const e of events) {
    if (e.kind === 0) {
      procs -= e.procs;
      mem -= e.mem;
      count--;
      continue;
    }
    if (e.kind === 1) {
      peakProcs = Math.max(peakProcs, procs + e.procs);
      peakMem = Math.max(peakMem, mem + e.mem);
      peakCount = Math.max(peakCount, count + 1);
      continue;
    }
    procs += e.procs;
    mem += e.mem;
    count++;
    peakProcs = Math.max(peakProcs, procs);
    peakMem = Math.max(peakMem, mem);
    peakCount = Math.max(peakCount, count);
  }
  return { n_procs: peakProcs, mem_gb: peakMem / MICRO, concurrent: peakCount };
}

/** Whether a peak stays within a budget (compared in micro-GB for memory). */
export function withinBudget(peak: { n_procs: number; mem_gb: number }, budget: { n_procs: number; memory_gb: number }): boolean {
  return peak.n_procs <= budget.n_procs && Math.round(peak.mem_gb * MICRO) <= Math.round(budget.memory_gb * MICRO);
}

/**
 * Orchestration overhead per node, in ms: the part of the run's wall time that
 * neither the workload's theoretical lower bound nor the critical path of the
 * nodes' actual durations accounts for, spread over all nodes:
 *
 *   (run_wall_s - max(lower_bound_s, critical_path_ms / 1000)) * 1000 / nodes
 *
 * For no-op workloads (LB 0, durations ~1 ms) this is roughly the wall time per
 * node; for sleep-bound ones it is the makespan lost to dispatch and packing,
 * per node. It can be slightly negative when actual durations beat the LB's.
 */
export function perNodeOverheadMs(runWallS: number, lowerBoundS: number, criticalPathMsValue: number, nodes: number): number | null {
  if (nodes <= 0) return null;
  return ((runWallS - Math.max(lowerBoundS, criticalPathMsValue / 1000)) * 1000) / nodes;
}

/**
 * Index of the median run when sorting by `key`: for an even count, the lower
 * of the two middle runs (always a run that actually happened).
 */
export function medianIndex<T>(runs: readonly T[], key: (r: T) => number): number {
  if (runs.length === 0) throw new RangeError('no runs');
  const order = runs.map((r, i) => ({ i, k: key(r) })).sort((a, b) => a.k - b.k || a.i - b.i);
  return (order[Math.floor((order.length - 1) / 2)] as { i: number }).i;
}

/** What the benchmark keeps of one peer run (nipype, Snakemake) of a workflow. */
export interface PeerResult {
  /** The peer's own wall time in seconds (null when it reported none). */
  readonly wall_s: number | null;
  readonly status: string;
}

/**
 * The fastest peer that succeeded (smallest `wall_s`; the first one listed on a
 * tie) and flowgate's speedup over it: `best peer wall_s / flowgate wall_s`
 * (> 1 means flowgate was faster). `best` is null when no peer succeeded with
 * a wall time; `speedup` is also null when flowgate's wall time is missing or
 * not > 0 (e.g. its run failed).
 */
export function speedupVsBestPeer(
  flowgateWallS: number | null,
  peers: Readonly<Record<string, PeerResult>>,
): { best: string | null; best_wall_s: number | null; speedup: number | null } {
  let best: string | null = null;
  let bestWall = Infinity;
  for (const [name, p] of Object.entries(peers)) {
    if (p.status !== 'succeeded' || p.wall_s === null || !Number.isFinite(p.wall_s)) continue;
    if (p.wall_s < bestWall) {
      best = name;
      bestWall = p.wall_s;
    }
  }
  if (best === null) return { best: null, best_wall_s: null, speedup: null };
  const speedup = flowgateWallS !== null && Number.isFinite(flowgateWallS) && flowgateWallS > 0 ? bestWall / flowgateWallS : null;
  return { best, best_wall_s: bestWall, speedup };
}

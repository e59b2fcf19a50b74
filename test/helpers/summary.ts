import { readFileSync } from 'node:fs';

/**
 * Checks over run summaries: the resource invariant computed from the
 * worker-stamped process times.
 */

/** The parts of a node summary the checks need. */
export interface TimedNode {
  id: string;
  status: string;
  start_ms: number | null;
  end_ms: number | null;
  granted: { n_procs: number; mem_gb: number };
}

/**
 * Peak of the summed granted resources over every instant at which node
 * processes overlap. An end and a start at the same millisecond do not overlap
 * (ends are processed first).
 */
export function peakUsage(nodes: readonly TimedNode[]): { n_procs: number; mem_gb: number; concurrent: number } {
  const events: Array<{ t: number; kind: 0 | 1; procs: number; mem: number }> = [];
  for (const n of nodes) {
    if (n.start_ms === null || n.end_ms === null) continue;
    events.push({ t: n.start_ms, kind: 1, procs: n.granted.n_procs, mem: n.granted.mem_gb });
    events.push({ t: n.end_ms, kind: 0, procs: n.granted.n_procs, mem: n.granted.mem_gb });
  }
  events.sort((a, b) => a.t - b.t || a.kind - b.kind);
  let procs = 0;
  let mem = 0;
  let count = 0;
  const peak = { n_procs: 0, mem_gb: 0, concurrent: 0 };
  for (const e of events) {
    const sign = e.kind === 1 ? 1 : -1;
    procs += sign * e.procs;
    mem += sign * e.mem;
    count += sign;
    peak.n_procs = Math.max(peak.n_procs, procs);
    peak.mem_gb = Math.max(peak.mem_gb, Math.round(mem * 1e6) / 1e6);
    peak.concurrent = Math.max(peak.concurrent, count);
  }
  return peak;
}

/** Whether two nodes' process intervals overlap. */
export function overlaps(a: TimedNode, b: TimedNode): boolean {
  if (a.start_ms === null || a.end_ms === null || b.start_ms === null || b.end_ms === null) return false;
  return a.start_ms < b.end_ms && b.start_ms < a.end_ms;
}

/** The summary entry of node `id` (throws if there is none). */
export function nodeOf<T extends { id: string }>(summary: { nodes: readonly T[] }, id: string): T {
  const n = summary.nodes.find((x) => x.id === id);
  if (n === undefined) throw new Error(`no node ${id} in the summary`);
  return n;
}

/** Whether a process exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed orphan nobody has reaped yet is a zombie: dead, only not buried.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

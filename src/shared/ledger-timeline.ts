/**
 * A run's resource ledger over time, rebuilt from its node records (for the
 * board's charts). Pure.
 */

/** One step of the ledger: from `t_ms` on, until the next point. */
export interface LedgerPoint {
  t_ms: number;
  /** Reserved (granted) threads. */
  n_procs: number;
  /** Reserved (granted) memory in GB. */
  mem_gb: number;
  /** Measured peak RSS (GB) summed over the nodes running at `t_ms`, where measured. */
  rss_gb: number;
  /** Reserved named resources in slots (`{gpu: 2}`), every name any node of the run was granted; absent when none was. */
  resources?: Record<string, number>;
}

/** What the timeline needs of a node. */
export interface TimedNode {
  n_procs: number;
  mem_gb: number;
  granted: { n_procs: number; mem_gb: number; resources?: Readonly<Record<string, number>> } | null;
  admitted_ms: number | null;
  released_ms: number | null;
  start_ms: number | null;
  end_ms: number | null;
  peak_rss_mb: number | null;
}

/**
 * Amounts are summed in whole micro-units (1e-6: a kilobyte of a GB): a node's
 * amount is rounded once, and taking it away again cancels it exactly, so no
 * float noise (0.1 + 0.2, many nodes' measured RSS) shows as a level above zero.
 */
const MICRO = 1e6;
const micro = (v: number): number => Math.round(v * MICRO);
const unit = (v: number): number => v / MICRO + 0; // + 0 turns -0 into 0

/**
 * The ledger as a step function. A node holds its granted (else declared)
 * resources over [admitted_ms, released_ms), still held at `now` when not yet
 * released; its measured peak RSS counts over [start_ms, end_ms). One point
 * per instant something changed, plus one at `now` while something is open.
 */
export function buildTimeline(nodes: readonly TimedNode[], now: number): LedgerPoint[] {
  const deltas = new Map<number, { n_procs: number; mem_gb: number; rss_gb: number; named: Map<string, number> }>();
  // Named resources are whole slots: no rounding needed. Every name granted to any node is kept on every point.
  const names = new Set<string>();
  const none: Readonly<Record<string, number>> = {};
  // Rounded as positive amounts, then signed: Math.round(-2.5) is -2, not -3, so rounding a
  // negated amount would not take away exactly what was added.
  const add = (t: number, p: number, m: number, r: number, named: Readonly<Record<string, number>>, sign: 1 | -1 = 1): void => {
    const d = deltas.get(t) ?? { n_procs: 0, mem_gb: 0, rss_gb: 0, named: new Map<string, number>() };
    d.n_procs += sign * micro(p);
    d.mem_gb += sign * micro(m);
    d.rss_gb += sign * micro(r);
    for (const [name, k] of Object.entries(named)) d.named.set(name, (d.named.get(name) ?? 0) + sign * k);
    deltas.set(t, d);
  };
  let open = false;
  for (const n of nodes) {
    if (n.admitted_ms !== null) {
      const procs = n.granted?.n_procs ?? n.n_procs;
      const mem = n.granted?.mem_gb ?? n.mem_gb;
      const named = n.granted?.resources ?? none;
      for (const name of Object.keys(named)) names.add(name);
      const end = n.released_ms !== null && n.released_ms >= n.admitted_ms ? n.released_ms : null;
      if (end === null || end > n.admitted_ms) add(n.admitted_ms, procs, mem, 0, named);
      if (end === null) open = true;
      else if (end > n.admitted_ms) add(end, procs, mem, 0, named, -1);
    }
    if (n.start_ms !== null && n.peak_rss_mb !== null) {
      const gb = n.peak_rss_mb / 1024;
      const end = n.end_ms !== null && n.end_ms >= n.start_ms ? n.end_ms : null;
      if (end === null || end > n.start_ms) add(n.start_ms, 0, 0, gb, none);
      if (end === null) open = true;
      else if (end > n.start_ms) add(end, 0, 0, gb, none, -1);
    }
  }
  const out: LedgerPoint[] = [];
  const level = { n_procs: 0, mem_gb: 0, rss_gb: 0 };
  const named = new Map([...names].sort().map((name) => [name, 0]));
  for (const t of [...deltas.keys()].sort((a, b) => a - b)) {
    const d = deltas.get(t);
    if (d === undefined) continue;
    level.n_procs += d.n_procs;
    level.mem_gb += d.mem_gb;
    level.rss_gb += d.rss_gb;
    for (const [name, k] of d.named) named.set(name, (named.get(name) ?? 0) + k);
    const point: LedgerPoint = { t_ms: t, n_procs: unit(level.n_procs), mem_gb: unit(level.mem_gb), rss_gb: unit(level.rss_gb), ...(named.size > 0 ? { resources: Object.fromEntries(named) } : {}) };
    const prev = out[out.length - 1];
    // A release and an admission at the same instant can cancel out: no step.
    if (prev !== undefined && sameLevels(prev, point)) continue;
    out.push(point);
  }
  const last = out[out.length - 1];
  if (open && last !== undefined && now > last.t_ms) out.push({ ...last, ...(last.resources !== undefined ? { resources: { ...last.resources } } : {}), t_ms: now });
  return out;
}

/** Whether two points hold the same levels (their times aside). */
function sameLevels(a: LedgerPoint, b: LedgerPoint): boolean {
  if (a.n_procs !== b.n_procs || a.mem_gb !== b.mem_gb || a.rss_gb !== b.rss_gb) return false;
  for (const [name, k] of Object.entries(b.resources ?? {})) if (a.resources?.[name] !== k) return false;
  return true;
}

/**
 * The timeline in at most `max` points (`max` ≥ 2): unchanged when it is
 * short enough; else each point stands for an equal span of the run and
 * holds the highest levels within it (so no peak is lost), the last point
 * kept as it is.
 */
export function downsampleTimeline(points: readonly LedgerPoint[], max: number): LedgerPoint[] {
  const first = points[0];
  const last = points[points.length - 1];
  if (points.length <= max || first === undefined || last === undefined) return [...points];
  const span = (last.t_ms - first.t_ms) / (max - 1);
  const out: LedgerPoint[] = [];
  for (const p of points.slice(0, -1)) {
    const t = first.t_ms + Math.floor((p.t_ms - first.t_ms) / span) * span;
    const bucket = out[out.length - 1];
    if (bucket !== undefined && bucket.t_ms === Math.round(t)) {
      bucket.n_procs = Math.max(bucket.n_procs, p.n_procs);
      bucket.mem_gb = Math.max(bucket.mem_gb, p.mem_gb);
      bucket.rss_gb = Math.max(bucket.rss_gb, p.rss_gb);
      if (bucket.resources !== undefined) for (const [name, k] of Object.entries(p.resources ?? {})) bucket.resources[name] = Math.max(bucket.resources[name] ?? 0, k);
    } else out.push({ ...p, ...(p.resources !== undefined ? { resources: { ...p.resources } } : {}), t_ms: Math.round(t) });
  }
  const tail = out[out.length - 1];
  if (tail !== undefined && tail.t_ms >= last.t_ms) out.pop();
  out.push({ ...last, ...(last.resources !== undefined ? { resources: { ...last.resources } } : {}) });
  return out;
}

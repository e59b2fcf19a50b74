/**
 * Which finished runs go: the selection rules of `flowgate prune` and of the
 * retention applied after runs, and which node directories may be removed
 * with them. Pure: the I/O lives in `run-pruner.ts`.
 */
import { sep } from 'node:path';

/** Run statuses that never change again; only such runs are ever removed. */
export const FINISHED_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);

/** What the pruner knows about one entry of the runs index. */
export interface RunEntry {
  runId: string;
  /** `meta.status`; null when the run's meta is gone (an orphaned index entry). */
  status: string | null;
  /** When it finished (else when it started, else 0). */
  finishedMs: number;
  /** Whether a scheduler still holds the run's lease. */
  leased: boolean;
}

/** `flowgate prune`: both limits must agree before a run goes. */
export interface PruneCriteria {
  /** Remove finished runs that finished longer ago than this; null: any age. */
  olderThanMs: number | null;
  /** Keep the newest this many finished runs whatever their age; 0: none kept for that reason. */
  keep: number;
}

/** Retention: a run goes as soon as it exceeds either limit. */
export interface RetentionPolicy {
  /** Finished runs kept at most; 0 is no count limit. */
  maxRuns: number;
  /** Finished runs kept at most this long after they finished; 0 is no age limit. */
  maxAgeMs: number;
}

/** Default retention: the newest 100 finished runs, for at most 7 days. */
export const DEFAULT_RETENTION: RetentionPolicy = { maxRuns: 100, maxAgeMs: 7 * 86_400_000 };

/** Whether a policy removes anything at all. */
export function retentionEnabled(p: RetentionPolicy): boolean {
  return p.maxRuns > 0 || p.maxAgeMs > 0;
}

/** Whether an entry may be removed at all: finished (or orphaned) and not leased. */
export function removable(e: RunEntry): boolean {
  return !e.leased && (e.status === null || FINISHED_STATUSES.has(e.status));
}

/** Finished entries, newest first (ties by id, so the order is stable). */
function finishedNewestFirst(entries: readonly RunEntry[]): RunEntry[] {
  return entries.filter((e) => e.status !== null && FINISHED_STATUSES.has(e.status)).sort((a, b) => b.finishedMs - a.finishedMs || (a.runId < b.runId ? 1 : -1));
}

/**
 * Runs `flowgate prune` removes: finished runs older than `olderThanMs`,
 * except the newest `keep` finished runs; orphaned index entries always.
 * Running, submitted and leased runs are never selected.
 */
export function selectForPrune(entries: readonly RunEntry[], c: PruneCriteria, now: number): RunEntry[] {
  const finished = finishedNewestFirst(entries);
  const picked = finished.filter((e, rank) => rank >= c.keep && (c.olderThanMs === null || now - e.finishedMs > c.olderThanMs) && removable(e));
  return [...picked, ...entries.filter((e) => e.status === null && !e.leased)];
}

/**
 * Runs retention removes: finished runs beyond the newest `maxRuns`, and
 * finished runs older than `maxAgeMs`; orphaned index entries always.
 */
export function selectForRetention(entries: readonly RunEntry[], p: RetentionPolicy, now: number): RunEntry[] {
  if (!retentionEnabled(p)) return [];
  const finished = finishedNewestFirst(entries);
  const picked = finished.filter((e, rank) => ((p.maxRuns > 0 && rank >= p.maxRuns) || (p.maxAgeMs > 0 && now - e.finishedMs > p.maxAgeMs)) && removable(e));
  return [...picked, ...entries.filter((e) => e.status === null && !e.leased)];
}

/** `/a/b/c` → `/a/b`, `/a`; the path itself is not included. */
function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let at = path.lastIndexOf(sep); at > 0; at = path.lastIndexOf(sep, at - 1)) out.push(path.slice(0, at));
  return out;
}

/**
 * Node directories of removed runs that may go: those no remaining run uses.
 * Node directories are shared by every run of the same workflow and work dir
 * (that is how the cache works), so a directory stays when a remaining run
 * used it, or it lies inside or around one that is (a node's `dir` may nest),
 * or it lies inside or around a tree a remaining unfinished run may still use
 * (`inUseTrees`: `<work_dir>/<workflow>` of running and submitted runs).
 * Linear in the total length of the paths.
 */
export function removableNodeDirs(candidates: Iterable<string>, usedByRemaining: ReadonlySet<string>, inUseTrees: readonly string[]): string[] {
  const protectedPaths = new Set([...usedByRemaining, ...inUseTrees]);
  // Every directory that contains a protected one cannot go either.
  const containsProtected = new Set<string>();
  for (const p of protectedPaths) for (const a of ancestors(p)) containsProtected.add(a);
  const out = new Set<string>();
  for (const dir of candidates) {
    if (out.has(dir) || protectedPaths.has(dir) || containsProtected.has(dir)) continue;
    if (ancestors(dir).some((a) => protectedPaths.has(a))) continue;
    out.add(dir);
  }
  return [...out];
}

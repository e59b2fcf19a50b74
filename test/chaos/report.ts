/**
 * A soak's figures (pure): faults injected by kind, violations by kind, and
 * how long the work each kind of fault interrupted took to come back.
 */
import { VIOLATION_KINDS, type ViolationKind } from './checks.js';
import type { EpisodeResult } from './harness.js';
import { FAULT_KINDS, type FaultKind } from './plan.js';

/** Recovery figures of one fault kind, in ms. */
export interface RecoveryFigures {
  /** Faults of the kind that killed an execution, and the fault-to-rerun delays (median, max). */
  reruns: number;
  rerun_median_ms: number | null;
  rerun_max_ms: number | null;
  /** Fault healed to the next node event (median, max). */
  resume_median_ms: number | null;
  resume_max_ms: number | null;
}

/** The soak's report. */
export interface SoakReport {
  seed: number;
  episodes: number;
  by_mode: Record<string, number>;
  wall_s: number;
  nodes: number;
  executions: number;
  documented_reruns: number;
  faults_injected: Partial<Record<FaultKind, number>>;
  faults_skipped: number;
  violations: Partial<Record<ViolationKind, number>>;
  recovery: Partial<Record<FaultKind, RecoveryFigures>>;
  /** Episodes with a violation: seed, faults, violations and the command that runs the episode again. */
  failing: Array<{ seed: number; mode: string; faults: string[]; violations: string[]; repro: string; dir?: string }>;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? null;
}

/** Adds up the episodes of a soak. */
export function summarize(seed: number, results: readonly EpisodeResult[], wallMs: number, reproFlags = ''): SoakReport {
  const faults: Partial<Record<FaultKind, number>> = {};
  const violations: Partial<Record<ViolationKind, number>> = {};
  const reruns = new Map<FaultKind, number[]>();
  const resumes = new Map<FaultKind, number[]>();
  const byMode: Record<string, number> = {};
  let skipped = 0;
  for (const r of results) {
    byMode[r.mode] = (byMode[r.mode] ?? 0) + 1;
    for (const f of r.faults) {
      if (f.skipped !== undefined) {
        skipped++;
        continue;
      }
      faults[f.kind] = (faults[f.kind] ?? 0) + 1;
      if (f.rerun_ms !== undefined) reruns.set(f.kind, [...(reruns.get(f.kind) ?? []), f.rerun_ms]);
      if (f.resume_ms !== undefined) resumes.set(f.kind, [...(resumes.get(f.kind) ?? []), f.resume_ms]);
    }
    for (const v of r.violations) violations[v.kind] = (violations[v.kind] ?? 0) + 1;
  }
  const recovery: Partial<Record<FaultKind, RecoveryFigures>> = {};
  for (const kind of FAULT_KINDS) {
    if (faults[kind] === undefined) continue;
    const rr = reruns.get(kind) ?? [];
    const rs = resumes.get(kind) ?? [];
    recovery[kind] = { reruns: rr.length, rerun_median_ms: median(rr), rerun_max_ms: rr.length > 0 ? Math.max(...rr) : null, resume_median_ms: median(rs), resume_max_ms: rs.length > 0 ? Math.max(...rs) : null };
  }
  const ordered = <K extends string>(keys: readonly K[], counts: Partial<Record<K, number>>): Partial<Record<K, number>> =>
    Object.fromEntries(keys.filter((k) => counts[k] !== undefined).map((k) => [k, counts[k]])) as Partial<Record<K, number>>;
  return {
    seed,
    episodes: results.length,
    by_mode: byMode,
    wall_s: Math.round(wallMs / 100) / 10,
    nodes: results.reduce((s, r) => s + r.nodes, 0),
    executions: results.reduce((s, r) => s + r.executions, 0),
    documented_reruns: results.reduce((s, r) => s + r.documented_reruns, 0),
    faults_injected: ordered(FAULT_KINDS, faults),
    faults_skipped: skipped,
    violations: ordered(VIOLATION_KINDS, violations),
    recovery,
    failing: results
      .filter((r) => r.violations.length > 0)
      .map((r) => ({
        seed: r.seed,
        mode: r.mode,
        faults: r.faults.map((f) => f.kind + (f.skipped !== undefined ? ' (skipped)' : '')),
        violations: r.violations.map((v) => `${v.kind}: ${v.detail}`),
        repro: `npm run chaos -- --episode-seed ${r.seed}${reproFlags}`,
        ...(r.dir !== undefined ? { dir: r.dir } : {}),
      })),
  };
}

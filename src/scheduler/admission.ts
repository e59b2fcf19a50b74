/**
 * Admission order and the pre-run budget check, as nipype's MultiProc does
 * them. Pure functions over node descriptions and a ledger.
 */
import { ValidationError, type ValidationIssue } from '../shared/errors.js';
import type { SchedulerOrder } from '../shared/options/defaults.js';
import { ResourceLedger, round, type Resources } from './ledger.js';

export { SCHEDULER_ORDERS, type SchedulerOrder } from '../shared/options/defaults.js';

/** What admission needs to know about a node. */
export interface AdmissionCandidate {
  readonly index: number;
  readonly id: string;
  /**
   * Position in nipype's job list: the topological order (networkx's, layer
   * by layer), map elements after every other node in creation order.
   */
  readonly topoRank: number;
  /** What the node declared. */
  readonly request: Resources;
  /** What it will hold: the request, clamped to the budget when clamping is on. */
  readonly grant: Resources;
}

/**
 * The admission order of two candidates. `tsort`: by rank — nipype's job
 * index: the topological order, then map elements in the order they were
 * created. `mem_thread`: ascending by (mem_gb, n_procs), ties by rank: the
 * smallest requests go first, exactly as nipype does (despite its docstring).
 */
export function compareCandidates(order: SchedulerOrder): (a: AdmissionCandidate, b: AdmissionCandidate) => number {
  if (order === 'mem_thread') {
    return (a, b) => a.request.mem_gb - b.request.mem_gb || a.request.n_procs - b.request.n_procs || a.topoRank - b.topoRank;
  }
  return (a, b) => a.topoRank - b.topoRank;
}

/** Sorts ready candidates in place in admission order (see {@link compareCandidates}). */
export function sortReady(ready: AdmissionCandidate[], order: SchedulerOrder): AdmissionCandidate[] {
  return ready.sort(compareCandidates(order));
}

/**
 * One admission pass: greedy first fit over `ready` (already sorted). A node
 * that does not fit is skipped and later, smaller nodes may take the space,
 * as in nipype. Reserves each admitted node's grant in the ledger under its
 * index and returns the admitted candidates in admission order.
 */
export function admitFirstFit(ready: Iterable<AdmissionCandidate>, ledger: ResourceLedger, key: (c: AdmissionCandidate) => string, groups?: GrantGroups): AdmissionCandidate[] {
  const admitted: AdmissionCandidate[] = [];
  // With the ready nodes' grants in hand, the pass ends as soon as none of
  // those not yet admitted fits what is free: a full budget costs O(groups),
  // not a scan of every ready node (a memory-bound wide run has 100 000).
  const left = groups === undefined ? undefined : new Map([...groups.sizes].map(([g, n]) => [g, n]));
  const anyFits = (): boolean => {
    if (left === undefined || groups === undefined) return true;
    for (const [g, n] of left) if (n > 0 && ledger.fits(groups.grant(g))) return true;
    return false;
  };
  if (!anyFits()) return admitted;
  for (const c of ready) {
    if (ledger.free.n_procs < 1) break;
    if (ledger.fits(c.grant)) {
      ledger.reserve(key(c), c.grant);
      admitted.push(c);
      if (left !== undefined) {
        const g = grantGroup(c.grant);
        left.set(g, (left.get(g) ?? 1) - 1);
        if (!anyFits()) break;
      }
    }
  }
  return admitted;
}

/** The ready nodes by grant: how many there are of each, and each group's grant. */
export interface GrantGroups {
  /** Ready nodes per group (see {@link grantGroup}). */
  readonly sizes: ReadonlyMap<string, number>;
  /** The grant of a group. */
  grant(group: string): Resources;
}

/** The group of a grant: nodes with equal grants are interchangeable for fitting. */
export function grantGroup(grant: Resources): string {
  return `${grant.n_procs}/${grant.mem_gb}`;
}

/** Why a ready node is not admitted now, e.g. "needs 12 GB, 4 GB free". */
export function waitingReason(c: AdmissionCandidate, ledger: ResourceLedger): string {
  const free = ledger.free;
  const parts: string[] = [];
  if (c.grant.n_procs > free.n_procs) parts.push(`needs ${c.grant.n_procs} procs, ${free.n_procs} free`);
  if (c.grant.mem_gb > free.mem_gb + 1e-9) parts.push(`needs ${round(c.grant.mem_gb)} GB, ${round(free.mem_gb)} GB free`);
  return parts.length > 0 ? parts.join('; ') : 'waiting for its turn';
}

/** Clamps a request to the budget (nipype with `raise_insufficient=False`). */
export function clampToBudget(request: Resources, budget: Resources): Resources {
  return { n_procs: Math.min(request.n_procs, budget.n_procs), mem_gb: Math.min(request.mem_gb, budget.mem_gb) };
}

/** A node whose request exceeds the budget. */
export interface OversizedNode {
  readonly id: string;
  readonly request: Resources;
}

/** Nodes whose request exceeds the budget in procs or memory (strict `>`). */
export function findOversized(nodes: readonly OversizedNode[], budget: Resources): OversizedNode[] {
  return nodes.filter((n) => n.request.n_procs > budget.n_procs || n.request.mem_gb > budget.mem_gb);
}

/**
 * With `raise_insufficient` off: one warning per oversized node, naming it,
 * what it asked for and what it is clamped to (nipype warns too, though only
 * in general: "Some nodes exceed the total amount of memory available").
 */
export function clampWarnings(nodes: readonly OversizedNode[], budget: Resources): string[] {
  return findOversized(nodes, budget).map((n) => {
    const grant = clampToBudget(n.request, budget);
    const asked: string[] = [];
    if (n.request.n_procs > budget.n_procs) asked.push(`${n.request.n_procs} procs (budget ${budget.n_procs})`);
    if (n.request.mem_gb > budget.mem_gb) asked.push(`${round(n.request.mem_gb)} GB (budget ${round(budget.mem_gb)} GB)`);
    return `node "${n.id}" needs ${asked.join(' and ')}: clamped to ${grant.n_procs} procs / ${round(grant.mem_gb)} GB, it runs alone`;
  });
}

/**
 * The pre-run check with `raise_insufficient`: throws a validation error that
 * lists every oversized node and by how much it exceeds the budget.
 */
export function assertFitsBudget(
  nodes: readonly OversizedNode[],
  budget: Resources,
  file?: string,
  /** What raises the budget, for the closing line (default: this command's `--n-procs/--memory-gb`). */
  raise = 'raise --n-procs/--memory-gb',
): void {
  const over = findOversized(nodes, budget);
  if (over.length === 0) return;
  const issues = over.map((n): ValidationIssue => {
    const parts: string[] = [];
    if (n.request.n_procs > budget.n_procs) {
      parts.push(`needs ${n.request.n_procs} procs but the budget is ${budget.n_procs} (over by ${n.request.n_procs - budget.n_procs})`);
    }
    if (n.request.mem_gb > budget.mem_gb) {
      parts.push(`needs ${round(n.request.mem_gb)} GB but the budget is ${round(budget.mem_gb)} GB (over by ${round(n.request.mem_gb - budget.mem_gb)} GB)`);
    }
    const issue: ValidationIssue = {
      node: n.id,
      field: n.request.n_procs > budget.n_procs ? 'n_procs' : 'mem_gb',
      message: `insufficient resources: ${parts.join('; ')}`,
    };
    if (file !== undefined) issue.file = file;
    return issue;
  });
  issues.push({
    message: `${over.length} node(s) exceed the budget of ${budget.n_procs} procs / ${round(budget.mem_gb)} GB; ${raise} or pass --no-raise-insufficient to run them alone with the whole budget`,
  });
  throw new ValidationError('NODE_EXCEEDS_BUDGET', issues);
}

/**
 * Admission order and the pre-run budget check, as nipype's MultiProc does
 * them. Pure functions over node descriptions and a ledger.
 */
import { ValidationError, type ValidationIssue } from '../shared/errors.js';
import type { SchedulerOrder } from '../shared/options/defaults.js';
import { round, type Grant, type Ledger, type Resources } from './ledger.js';

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
  readonly request: Grant;
  /** What it will hold: the request, clamped to the budget when clamping is on. */
  readonly grant: Grant;
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
 * index and returns the admitted candidates in admission order. The
 * reference for a run's own pass (RunGraph.admit), which visits one ready
 * node per group of equal grants to the same effect.
 */
export function admitFirstFit(ready: Iterable<AdmissionCandidate>, ledger: Ledger, key: (c: AdmissionCandidate) => string): AdmissionCandidate[] {
  const admitted: AdmissionCandidate[] = [];
  for (const c of ready) {
    if (ledger.free.n_procs < 1) break;
    if (ledger.fits(c.grant)) {
      ledger.reserve(key(c), c.grant);
      admitted.push(c);
    }
  }
  return admitted;
}

/** The group of a grant: nodes with equal grants (and constraints) are interchangeable for fitting. */
export function grantGroup(grant: Grant): string {
  const base = `${grant.n_procs}/${grant.mem_gb}`;
  if (grant.resources === undefined && grant.constraint === undefined) return base;
  return `${base}/${JSON.stringify(grant.resources ?? {})}/${JSON.stringify(grant.constraint ?? {})}`;
}

/** Why a ready node is not admitted now, e.g. "needs 12 GB, 4 GB free". */
export function waitingReason(c: AdmissionCandidate, ledger: Ledger): string {
  return ledger.waitingReason(c.grant);
}

/**
 * Clamps a request to the budget (nipype with `raise_insufficient=False`):
 * threads and memory, and each named resource to what the budget has of it.
 */
export function clampToBudget(request: Grant, budget: Resources, named?: Readonly<Record<string, number>>): Grant {
  // A request that fits is its own grant (the same object: requests are shared, see node-request.ts).
  if (request.resources === undefined && request.n_procs <= budget.n_procs && request.mem_gb <= budget.mem_gb) return request;
  const clamped: Grant = { ...request, n_procs: Math.min(request.n_procs, budget.n_procs), mem_gb: Math.min(request.mem_gb, budget.mem_gb) };
  if (request.resources === undefined || named === undefined) return clamped;
  const resources = Object.fromEntries(Object.entries(request.resources).map(([k, n]) => [k, Math.min(n, named[k] ?? 0)]).filter(([, n]) => (n as number) > 0));
  return { ...clamped, resources };
}

/** A node whose request exceeds the budget. */
export interface OversizedNode {
  readonly id: string;
  readonly request: Grant;
}

/** A budget: threads, memory and named resources (absent: none). */
export type Budget = Resources & { readonly resources?: Readonly<Record<string, number>> };

/** The named resources a request asks more of than the budget has: `[name, asked, has]`. */
function namedOver(request: Grant, budget: Budget): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (const [name, n] of Object.entries(request.resources ?? {})) {
    const has = budget.resources?.[name] ?? 0;
    if (n > has) out.push([name, n, has]);
  }
  return out;
}

/** Nodes whose request exceeds the budget in procs, memory or a named resource (strict `>`). */
export function findOversized(nodes: readonly OversizedNode[], budget: Budget): OversizedNode[] {
  return nodes.filter((n) => n.request.n_procs > budget.n_procs || n.request.mem_gb > budget.mem_gb || namedOver(n.request, budget).length > 0);
}

/**
 * With `raise_insufficient` off: one warning per oversized node, naming it,
 * what it asked for and what it is clamped to (nipype warns too, though only
 * in general: "Some nodes exceed the total amount of memory available").
 */
export function clampWarnings(nodes: readonly OversizedNode[], budget: Budget): string[] {
  return findOversized(nodes, budget).map((n) => {
    const grant = clampToBudget(n.request, budget, budget.resources ?? {});
    const asked: string[] = [];
    if (n.request.n_procs > budget.n_procs) asked.push(`${n.request.n_procs} procs (budget ${budget.n_procs})`);
    if (n.request.mem_gb > budget.mem_gb) asked.push(`${round(n.request.mem_gb)} GB (budget ${round(budget.mem_gb)} GB)`);
    for (const [name, k, has] of namedOver(n.request, budget)) asked.push(`${name} ${k} (budget ${has})`);
    return `node "${n.id}" needs ${asked.join(' and ')}: clamped to ${grant.n_procs} procs / ${round(grant.mem_gb)} GB, it runs alone`;
  });
}

/**
 * The pre-run check with `raise_insufficient`: throws a validation error that
 * lists every oversized node and by how much it exceeds the budget.
 */
export function assertFitsBudget(
  nodes: readonly OversizedNode[],
  budget: Budget,
  file?: string,
  /** What raises the budget, for the closing line (default: this command's `--n-procs/--memory-gb`). */
  raise = 'raise --n-procs/--memory-gb',
): void {
  const over = findOversized(nodes, budget);
  if (over.length === 0) return;
  let namedToo = false;
  const issues = over.map((n): ValidationIssue => {
    const parts: string[] = [];
    if (n.request.n_procs > budget.n_procs) {
      parts.push(`needs ${n.request.n_procs} procs but the budget is ${budget.n_procs} (over by ${n.request.n_procs - budget.n_procs})`);
    }
    if (n.request.mem_gb > budget.mem_gb) {
      parts.push(`needs ${round(n.request.mem_gb)} GB but the budget is ${round(budget.mem_gb)} GB (over by ${round(n.request.mem_gb - budget.mem_gb)} GB)`);
    }
    const named = namedOver(n.request, budget);
    for (const [name, k, has] of named) parts.push(`needs ${name} ${k} but the budget has ${has}`);
    if (named.length > 0) namedToo = true;
    const issue: ValidationIssue = {
      node: n.id,
      field: n.request.n_procs > budget.n_procs ? 'n_procs' : n.request.mem_gb > budget.mem_gb ? 'mem_gb' : 'resources',
      message: `insufficient resources: ${parts.join('; ')}`,
    };
    if (file !== undefined) issue.file = file;
    return issue;
  });
  const named = Object.entries(budget.resources ?? {}).map(([k, n]) => `, ${k} ${n}`).join('');
  issues.push({
    message: `${over.length} node(s) exceed the budget of ${budget.n_procs} procs / ${round(budget.mem_gb)} GB${named}; ${raise}${namedToo ? ' (named resources: --resource NAME=N)' : ''} or pass --no-raise-insufficient to run them alone with the whole budget`,
  });
  throw new ValidationError('NODE_EXCEEDS_BUDGET', issues);
}

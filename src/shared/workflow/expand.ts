/**
 * nipype's iterables and JoinNode, expanded statically before the run: a node
 * with `iterables` is copied once per value (or combination of values), and
 * so is every descendant, until a node that `join`s that source; the join
 * node receives the copies' outputs as lists, in value order. Pure.
 */
import { nodeInputs, sourcesOf } from './dataflow-check.js';
import { FileGraph } from './file-graph.js';
import { exceedsLimit, exceedsText, formatCount, productProblem } from './max-nodes.js';
import type { WorkflowFile } from './schema.js';

type FileNode = WorkflowFile['nodes'][number];
type At = (node: string, field: string, message: string, path: PropertyKey[]) => void;

/** One value combination of an iterable node. */
interface Combo {
  /** Directory-safe label, e.g. `_subject_s1_session_a`. */
  label: string;
  values: Record<string, string | number | boolean>;
}

function safe(v: string | number | boolean): string {
  return String(v).replace(/[^A-Za-z0-9.-]/g, '_');
}

type Scalar = string | number | boolean;

/**
 * The value combinations of a node's iterables: every combination, or
 * lockstep with `synchronize` — as many copies as the longest list, a copy
 * past the end of a shorter list getting no value of it (nipype's
 * `synchronize_iterables`). Labels name the fields in sorted order, as
 * nipype's parameterisation does (`_fwhm_4_subject_s1`).
 */
export function combosOf(n: FileNode): Combo[] {
  const params = Object.entries(n.iterables ?? {});
  if (params.length === 0) return [];
  let values: Array<Record<string, Scalar>>;
  if (n.synchronize === true) {
    const len = params.reduce((m, [, vs]) => Math.max(m, vs.length), 0);
    values = Array.from({ length: len }, (_, i) => Object.fromEntries(params.filter(([, vs]) => i < vs.length).map(([p, vs]) => [p, vs[i] as Scalar])));
  } else {
    values = [{}];
    for (const [p, vs] of params) values = values.flatMap((c) => vs.map((v) => ({ ...c, [p]: v })));
  }
  return values.map((v) => ({ label: Object.keys(v).sort().map((p) => `_${p}_${safe(v[p] as Scalar)}`).join(''), values: v }));
}

/**
 * The first directory name two copies of a node would share, if any: the
 * labels of {@link combosOf}, in its order, made as strings only (a million
 * combinations' value records took seconds and half a gigabyte).
 */
export function firstDuplicateLabel(n: FileNode): string | undefined {
  const params = Object.entries(n.iterables ?? {});
  if (params.length === 0) return undefined;
  // A label's parts in sorted field order; each field's part per value.
  const sorted = params.map(([p], i) => ({ p, i })).sort((a, b) => (a.p < b.p ? -1 : a.p > b.p ? 1 : 0));
  const parts = params.map(([p, vs]) => vs.map((v) => `_${p}_${safe(v)}`));
  const seen = new Set<string>();
  const labelOf = (pick: (field: number) => number | undefined): string => {
    let label = '';
    for (const { i } of sorted) {
      const k = pick(i);
      if (k !== undefined) label += parts[i]?.[k] ?? '';
    }
    return label;
  };
  const lengths = params.map(([, vs]) => vs.length);
  if (n.synchronize === true) {
    const len = lengths.reduce((m, l) => Math.max(m, l), 0);
    for (let c = 0; c < len; c++) {
      const label = labelOf((i) => (c < (lengths[i] ?? 0) ? c : undefined));
      if (seen.has(label)) return label;
      seen.add(label);
    }
    return undefined;
  }
  if (lengths.some((l) => l === 0)) return undefined;
  // A counter over the fields, the first field the slowest (combosOf's order).
  const at = lengths.map(() => 0);
  for (;;) {
    const label = labelOf((i) => at[i]);
    if (seen.has(label)) return label;
    seen.add(label);
    let f = at.length - 1;
    while (f >= 0 && (at[f] = (at[f] ?? 0) + 1) === lengths[f]) at[f--] = 0;
    if (f < 0) return undefined;
  }
}

/** Products up to this size have their directory names checked with the other issues; larger ones once the whole workflow's size is known to fit. */
const LABELS_CHECKED_AT_ONCE = 10_000;

/** The sizes of a node's iterables product: the list lengths, or the longest one in lockstep. */
function factorsOf(n: FileNode): number[] {
  const lengths = Object.values(n.iterables ?? {}).map((vs) => vs.length);
  // In lockstep, as many copies as the longest list.
  return n.synchronize === true ? [lengths.reduce((a, b) => Math.max(a, b), 0)] : lengths;
}

/**
 * Checks iterables and joins (before expansion, so errors point at the
 * file). An iterables product above `maxNodes` is refused (through
 * `atSize`) from its list lengths alone, before any combination is made. The work is done where
 * iterables and joins are: one walk downstream of each joined source.
 */
export function checkIterables(data: WorkflowFile, at: At, atSize: At, maxNodes: number): number[] {
  /** Nodes whose directory names are checked later (see {@link checkLaterLabels}). */
  const later: number[] = [];
  let graph: FileGraph | undefined;
  const downstream = new Map<number, Uint8Array>();
  data.nodes.forEach((n, i) => {
    if (n.iterables === undefined && n.synchronize === undefined && n.join === undefined) return;
    const params = Object.entries(n.iterables ?? {});
    for (const [p] of params) {
      if (Object.hasOwn(n.inputs ?? {}, p)) at(n.id, `nodes[${i}].iterables.${p}`, `"${p}" is both an input and an iterable`, ['nodes', i, 'iterables', p]);
    }
    if (n.synchronize !== undefined && params.length === 0) at(n.id, `nodes[${i}].synchronize`, 'only meaningful with iterables', ['nodes', i, 'synchronize']);
    const tooMany = params.length === 0 ? undefined : productProblem('iterables product', factorsOf(n), maxNodes);
    if (tooMany !== undefined) atSize(n.id, `nodes[${i}].iterables`, tooMany, ['nodes', i, 'iterables']);
    else if (params.length > 0) {
      if (factorsOf(n).reduce((a, b) => a * b, 1) > LABELS_CHECKED_AT_ONCE) later.push(i);
      else checkLabels(data, i, at);
    }
    if (n.join === undefined) return;
    graph ??= new FileGraph(data);
    const source = graph.indexOf(n.join.source);
    const src = source === undefined ? undefined : data.nodes[source];
    if (source === undefined) at(n.id, `nodes[${i}].join.source`, `unknown node "${n.join.source}"`, ['nodes', i, 'join', 'source']);
    else if (src?.iterables === undefined) at(n.id, `nodes[${i}].join.source`, `"${n.join.source}" has no iterables to join`, ['nodes', i, 'join', 'source']);
    else {
      let below = downstream.get(source);
      if (below === undefined) {
        below = graph.reachableFrom(source);
        downstream.set(source, below);
      }
      if (below[i] !== 1) at(n.id, `nodes[${i}].join.source`, `"${n.join.source}" is not upstream of this node`, ['nodes', i, 'join', 'source']);
    }
    n.join.fields.forEach((f, j) => {
      if (!Object.hasOwn(n.inputs ?? {}, f)) at(n.id, `nodes[${i}].join.fields[${j}]`, `no input "${f}" to collect`, ['nodes', i, 'join', 'fields', j]);
    });
  });
  return later;
}

function checkLabels(data: WorkflowFile, i: number, at: At): void {
  const n = data.nodes[i];
  const dup = n === undefined ? undefined : firstDuplicateLabel(n);
  if (n !== undefined && dup !== undefined) at(n.id, `nodes[${i}].iterables`, `two values give the same directory name "${dup}"`, ['nodes', i, 'iterables']);
}

/**
 * The directory names of the large products {@link checkIterables} left for
 * later, checked once the whole workflow's expansion is known to be within
 * `--max-nodes`: a product refused for its size is never enumerated.
 */
export function checkLaterLabels(data: WorkflowFile, later: readonly number[], at: At): void {
  for (const i of later) checkLabels(data, i, at);
}

/** Whether the workflow uses iterables at all. */
export function hasIterables(data: WorkflowFile): boolean {
  return data.nodes.some((n) => n.iterables !== undefined);
}

/**
 * The iterable sources each node is copied over, in topological order (the
 * file is valid and acyclic): a node inherits its predecessors' sources,
 * adds its own iterables and drops the source it joins.
 */
function iterationSources(data: WorkflowFile): Map<string, string[]> {
  const graph = new FileGraph(data);
  const order = graph.postOrder();
  const rank = new Int32Array(order.length);
  order.forEach((node, pos) => {
    rank[node] = pos;
  });
  const over: string[][] = data.nodes.map(() => []);
  const byRank = (a: number, b: number): number => (rank[a] ?? 0) - (rank[b] ?? 0);
  for (const i of order) {
    const n = data.nodes[i] as FileNode;
    const set = new Set<number>();
    for (const p of graph.preds[i] ?? []) for (const s of over[p] ?? []) set.add(graph.indexOf(s) as number);
    if (n.iterables !== undefined) set.add(i);
    if (n.join !== undefined) {
      const joined = graph.indexOf(n.join.source);
      if (joined !== undefined) set.delete(joined);
    }
    over[i] = [...set].sort(byRank).map((s) => graph.ids[s] as string);
  }
  return new Map(data.nodes.map((n, i) => [n.id, over[i] ?? []]));
}

/**
 * How many nodes the workflow expands to, and why that is too many for
 * `maxNodes` (the copies of one node, or all nodes together), computed from
 * list lengths alone. The file is valid and acyclic.
 */
export function expansionSize(data: WorkflowFile, maxNodes: number): { total: number; problem?: { node?: string; index?: number; message: string } } {
  const over = iterationSources(data);
  const sizes = new Map(data.nodes.filter((n) => n.iterables !== undefined).map((n) => [n.id, factorsOf(n).reduce((a, b) => a * b, 1)]));
  let total = 0;
  for (const [i, n] of data.nodes.entries()) {
    const sources = over.get(n.id) ?? [];
    const factors = sources.map((s) => sizes.get(s) ?? 1);
    const copies = productProblem(`one copy per value of ${sources.map((s) => `"${s}"`).join(' and ')}:`, factors, maxNodes);
    if (copies !== undefined) return { total: Infinity, problem: { node: n.id, index: i, message: copies } };
    total += factors.reduce((a, b) => a * b, 1);
  }
  if (exceedsLimit(total, maxNodes)) return { total, problem: { message: `iterables expand the workflow to ${formatCount(total)} nodes, which ${exceedsText(maxNodes)}` } };
  return { total };
}

/**
 * The workflow with iterables expanded (the file is valid, acyclic and
 * within the node limit: see {@link expansionSize}). Node copies are
 * named `<node>.<label>` per source, e.g. `stats._subject_s1`.
 */
export function expandIterables(data: WorkflowFile): { data: WorkflowFile; dirs: Map<string, string> } {
  const over = iterationSources(data);
  const combos = new Map(data.nodes.filter((n) => n.iterables !== undefined).map((n) => [n.id, combosOf(n)]));
  const graph = new FileGraph(data);
  const depth = sourceDepths(data, graph, graph.postOrder(), over);
  // nipype nests a copy's directories by the longest path from each source (farthest outside), then by label.
  const labelsOf = (id: string, a: ReadonlyMap<string, number>): string[] =>
    (over.get(id) ?? [])
      .map((s) => ({ d: depth.get(id)?.get(s) ?? 0, label: combos.get(s)?.[a.get(s) ?? 0]?.label ?? '' }))
      .sort((x, y) => y.d - x.d || (x.label < y.label ? -1 : x.label > y.label ? 1 : 0))
      .map((x) => x.label);
  const copyId = (id: string, a: ReadonlyMap<string, number>): string => {
    const labels = labelsOf(id, a);
    return labels.length === 0 ? id : `${id}.${labels.join('.')}`;
  };
  // Directories as nipype lays them out: <workflow>/_p_v/[_q_w/]<node>.
  const dirs = new Map<string, string>();
  const out: FileNode[] = [];
  for (const n of data.nodes) {
    const sources = over.get(n.id) ?? [];
    let assignments: Array<Map<string, number>> = [new Map()];
    for (const s of sources) assignments = assignments.flatMap((a) => (combos.get(s) ?? []).map((_, k) => new Map(a).set(s, k)));
    for (const a of assignments) {
      out.push(copyNode(n, a));
      const labels = labelsOf(n.id, a);
      if (labels.length > 0) dirs.set(copyId(n.id, a), [...labels, n.id].join('/'));
    }
  }
  return { data: { ...data, nodes: out }, dirs };

  function copyNode(n: FileNode, a: ReadonlyMap<string, number>): FileNode {
    const joined = n.join?.source;
    // Copies of `p` this copy of `n` reads from: one, or all of the joined source's values.
    const copiesOf = (p: string): string[] => {
      if (joined !== undefined && (over.get(p) ?? []).includes(joined)) {
        return (combos.get(joined) ?? []).map((_, k) => copyId(p, new Map(a).set(joined, k)));
      }
      return [copyId(p, a)];
    };
    const inputs: Record<string, unknown> = {};
    for (const [name, input] of Object.entries(nodeInputs(n))) {
      if (input.kind === 'value') {
        inputs[name] = input.value;
        continue;
      }
      if (input.kind === 'path') {
        inputs[name] = { path: input.path };
        continue;
      }
      const from = sourcesOf(input).flatMap((s) => copiesOf(s.node).map((c) => `${c}.${s.output}`));
      const joinField = joined !== undefined && (n.join?.fields ?? []).includes(name);
      const gathered = input.kind === 'gather' || from.length > 1 || joinField;
      // nipype's JoinNode(unique=True): the values are known only when the copies ran, so the gather carries the flag.
      const unique = (input.kind === 'gather' && input.unique === true) || (joinField && n.join?.unique === true);
      inputs[name] = gathered ? { from, ...(unique ? { unique: true } : {}) } : { from: from[0] };
    }
    const own = n.iterables !== undefined ? combos.get(n.id)?.[a.get(n.id) ?? 0]?.values : undefined;
    if (own !== undefined) Object.assign(inputs, own);
    const needs = [...new Set((n.needs ?? []).flatMap(copiesOf))];
    const copy: Record<string, unknown> = { ...n, id: copyId(n.id, a) };
    for (const key of ['iterables', 'synchronize', 'join', 'inputs', 'needs']) delete copy[key];
    if (Object.keys(inputs).length > 0) copy['inputs'] = inputs;
    if (needs.length > 0) copy['needs'] = needs;
    return copy as FileNode;
  }
}

/**
 * For each node, the longest path to it from each iterable source it is
 * copied over (nipype's `get_levels` in the source's subgraph), in one pass
 * over the topological order: a predecessor counts for source `s` when it is
 * `s` or is itself copied over `s`.
 */
function sourceDepths(data: WorkflowFile, graph: FileGraph, order: readonly number[], over: ReadonlyMap<string, readonly string[]>): Map<string, Map<string, number>> {
  const depth = new Map<string, Map<string, number>>();
  for (const i of order) {
    const id = data.nodes[i]?.id as string;
    const mine = new Map<string, number>();
    for (const s of over.get(id) ?? []) {
      if (s === id) {
        mine.set(s, 0);
        continue;
      }
      let best = 0;
      for (const p of graph.preds[i] ?? []) {
        const pid = graph.ids[p] as string;
        const dp = pid === s ? 0 : depth.get(pid)?.get(s);
        if (dp !== undefined) best = Math.max(best, dp + 1);
      }
      mine.set(s, best);
    }
    depth.set(id, mine);
  }
  return depth;
}

/**
 * nipype's iterables and JoinNode, expanded statically before the run: a node
 * with `iterables` is copied once per value (or combination of values), and
 * so is every descendant, until a node that `join`s that source; the join
 * node receives the copies' outputs as lists, in value order. Pure.
 */
import { impliedNeeds, nodeInputs, sourcesOf } from './dataflow-check.js';
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
    const len = Math.max(...params.map(([, vs]) => vs.length));
    values = Array.from({ length: len }, (_, i) => Object.fromEntries(params.filter(([, vs]) => i < vs.length).map(([p, vs]) => [p, vs[i] as Scalar])));
  } else {
    values = [{}];
    for (const [p, vs] of params) values = values.flatMap((c) => vs.map((v) => ({ ...c, [p]: v })));
  }
  return values.map((v) => ({ label: Object.keys(v).sort().map((p) => `_${p}_${safe(v[p] as Scalar)}`).join(''), values: v }));
}

/** Checks iterables and joins (before expansion, so errors point at the file). */
export function checkIterables(data: WorkflowFile, at: At): void {
  const ids = new Set(data.nodes.map((n) => n.id));
  const ancestors = ancestorSets(data);
  data.nodes.forEach((n, i) => {
    const params = Object.entries(n.iterables ?? {});
    for (const [p] of params) {
      if (Object.hasOwn(n.inputs ?? {}, p)) at(n.id, `nodes[${i}].iterables.${p}`, `"${p}" is both an input and an iterable`, ['nodes', i, 'iterables', p]);
    }
    if (n.synchronize !== undefined && params.length === 0) at(n.id, `nodes[${i}].synchronize`, 'only meaningful with iterables', ['nodes', i, 'synchronize']);
    const labels = combosOf(n).map((c) => c.label);
    const dup = labels.find((l, k) => labels.indexOf(l) !== k);
    if (dup !== undefined) at(n.id, `nodes[${i}].iterables`, `two values give the same directory name "${dup}"`, ['nodes', i, 'iterables']);
    if (n.join === undefined) return;
    const src = data.nodes.find((m) => m.id === n.join?.source);
    if (!ids.has(n.join.source)) at(n.id, `nodes[${i}].join.source`, `unknown node "${n.join.source}"`, ['nodes', i, 'join', 'source']);
    else if (src?.iterables === undefined) at(n.id, `nodes[${i}].join.source`, `"${n.join.source}" has no iterables to join`, ['nodes', i, 'join', 'source']);
    else if (!ancestors.get(n.id)?.has(n.join.source)) at(n.id, `nodes[${i}].join.source`, `"${n.join.source}" is not upstream of this node`, ['nodes', i, 'join', 'source']);
    n.join.fields.forEach((f, j) => {
      if (!Object.hasOwn(n.inputs ?? {}, f)) at(n.id, `nodes[${i}].join.fields[${j}]`, `no input "${f}" to collect`, ['nodes', i, 'join', 'fields', j]);
    });
  });
}

/** Each node's ancestors (by needs and connections). */
function ancestorSets(data: WorkflowFile): Map<string, Set<string>> {
  const preds = new Map(data.nodes.map((n) => [n.id, impliedNeeds(n)]));
  const memo = new Map<string, Set<string>>();
  const visit = (id: string, stack: Set<string>): Set<string> => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const out = new Set<string>();
    if (stack.has(id)) return out; // a cycle: reported by the cycle check
    stack.add(id);
    for (const p of preds.get(id) ?? []) {
      out.add(p);
      for (const a of visit(p, stack)) out.add(a);
    }
    stack.delete(id);
    memo.set(id, out);
    return out;
  };
  for (const n of data.nodes) visit(n.id, new Set());
  return memo;
}

/** Whether the workflow uses iterables at all. */
export function hasIterables(data: WorkflowFile): boolean {
  return data.nodes.some((n) => n.iterables !== undefined);
}

/**
 * The workflow with iterables expanded (the file is valid and acyclic). Node
 * copies are named `<node>.<label>` per source, e.g. `stats._subject_s1`.
 */
export function expandIterables(data: WorkflowFile): { data: WorkflowFile; dirs: Map<string, string> } {
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const order = topoOrder(data);
  // The iterable sources each node is copied over, in topological order.
  const over = new Map<string, string[]>();
  for (const id of order) {
    const n = byId.get(id) as FileNode;
    const set = new Set<string>();
    for (const p of impliedNeeds(n)) for (const s of over.get(p) ?? []) set.add(s);
    if (n.iterables !== undefined) set.add(id);
    if (n.join !== undefined) set.delete(n.join.source);
    over.set(id, order.filter((s) => set.has(s)));
  }
  const combos = new Map(data.nodes.filter((n) => n.iterables !== undefined).map((n) => [n.id, combosOf(n)]));
  const depth = sourceDepths(data, order, over);
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
    for (const s of sources) assignments = assignments.flatMap((a) => (combos.get(s) ?? []).map((_, k) => new Map([...a, [s, k]])));
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
        return (combos.get(joined) ?? []).map((_, k) => copyId(p, new Map([...a, [joined, k]])));
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
      const gathered = input.kind === 'gather' || from.length > 1 || (joined !== undefined && (n.join?.fields ?? []).includes(name));
      inputs[name] = { from: gathered ? from : from[0] };
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
 * copied over (nipype's `get_levels` in the source's subgraph).
 */
function sourceDepths(data: WorkflowFile, order: readonly string[], over: ReadonlyMap<string, readonly string[]>): Map<string, Map<string, number>> {
  const preds = new Map(data.nodes.map((n) => [n.id, impliedNeeds(n)]));
  const ancestors = ancestorSets(data);
  const depth = new Map<string, Map<string, number>>();
  for (const id of order) {
    const mine = new Map<string, number>();
    for (const s of over.get(id) ?? []) {
      if (s === id) {
        mine.set(s, 0);
        continue;
      }
      let best = 0;
      for (const p of preds.get(id) ?? []) {
        if (p === s || ancestors.get(p)?.has(s) === true) best = Math.max(best, (depth.get(p)?.get(s) ?? 0) + 1);
      }
      mine.set(s, best);
    }
    depth.set(id, mine);
  }
  return depth;
}

function topoOrder(data: WorkflowFile): string[] {
  const preds = new Map(data.nodes.map((n) => [n.id, impliedNeeds(n)]));
  const done = new Set<string>();
  const order: string[] = [];
  const visit = (id: string): void => {
    if (done.has(id)) return;
    done.add(id);
    for (const p of preds.get(id) ?? []) visit(p);
    order.push(id);
  };
  for (const n of data.nodes) visit(n.id);
  return order;
}

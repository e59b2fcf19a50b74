/**
 * MapNode (nipype's `MapNode`, dynamic): when a map node becomes ready, its
 * listed inputs are resolved and it is expanded into one element per item
 * (zip: the i-th items together; product: every combination). Elements run
 * as ordinary nodes with the parent's resources in `mapflow/_<node><i>`; the
 * parent then collects their outputs into lists, in element order. With
 * `nested` (nipype's `MapNode(nested=True)`) the mapped input is flattened
 * into the elements and each output list is nested back to its shape. Pure.
 */
import { join } from 'node:path';
import { mapSizeProblem } from '../shared/workflow/map-check.js';
import { DEFAULT_MAX_NODES } from '../shared/workflow/max-nodes.js';
import { resolveInputs, type Outputs } from '../shared/workflow/template.js';
import type { NodeRuntime } from './run-graph.js';
import type { MapRecord } from './summary.js';

/** The elements of a map node, or why it cannot be expanded. */
export type MapPlan = { ok: true; map: MapRecord } | { ok: false; reason: string };

/**
 * Plans the elements of a ready map node; `first` is the index the first
 * element will get. More than `maxNodes` elements are refused before any is made.
 */
export function planMap(n: NodeRuntime, first: number, outputsOf: (node: string) => Outputs | undefined, maxNodes = DEFAULT_MAX_NODES): MapPlan {
  const spec = n.node.map;
  if (spec === null) return { ok: false, reason: 'not a map node' };
  const resolved = resolveInputs(n.node.inputs, outputsOf);
  if (!resolved.ok) return resolved;
  const lists: Array<[string, unknown[]]> = [];
  for (const name of spec.over) {
    const given = resolved.values[name];
    if (!Array.isArray(given)) return { ok: false, reason: `map: input "${name}" must be a list, got ${given === null ? 'null' : typeof given}` };
    const v = spec.nested === true ? flattenList(given) : given;
    // nipype fails a MapNode with nothing to iterate over: so does flowgate, rather than succeed with empty lists.
    if (v.length === 0) return { ok: false, reason: `map: input "${name}" ${given.length === 0 ? 'is an empty list' : 'holds only empty lists'}; a map node needs at least one item` };
    lists.push([name, v]);
  }
  const tooMany = mapSizeProblem(spec.mode, lists.map(([, v]) => v.length), maxNodes);
  if (tooMany !== undefined) return { ok: false, reason: tooMany };
  let items: Array<Record<string, unknown>>;
  if (spec.mode === 'zip') {
    const lengths = new Set(lists.map(([, v]) => v.length));
    if (lengths.size > 1) return { ok: false, reason: `map (zip): inputs ${lists.map(([k, v]) => `${k} has ${v.length}`).join(', ')} items; zip needs lists of one length` };
    const len = lists[0]?.[1].length ?? 0;
    items = Array.from({ length: len }, (_, i) => Object.fromEntries(lists.map(([k, v]) => [k, v[i]])));
  } else {
    items = [{}];
    for (const [k, v] of lists) items = items.flatMap((it) => v.map((x) => ({ ...it, [k]: x })));
  }
  const elements = items.map((item, i) => {
    const id = `_${n.node.id}${i}`;
    return { id, inputs: { ...resolved.values, ...item }, dir: join(n.record.node_dir, 'mapflow', id) };
  });
  return { ok: true, map: { first, elements } };
}

/**
 * The items of a nested list in order, lists inside lists opened at every
 * depth (nipype's `flatten`): `[[1, 2], [3, [4]]]` → `[1, 2, 3, 4]`.
 */
export function flattenList(list: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  // Iterative, so a deep nesting cannot overflow the stack.
  const stack: Array<{ list: readonly unknown[]; at: number }> = [{ list, at: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { list: readonly unknown[]; at: number };
    if (top.at >= top.list.length) {
      stack.pop();
      continue;
    }
    const v = top.list[top.at++];
    if (Array.isArray(v)) stack.push({ list: v, at: 0 });
    else out.push(v);
  }
  return out;
}

/**
 * `flat` laid out in the shape of `shape` (nipype's `unflatten`): each
 * non-list item of `shape` takes the next value of `flat`, lists keep their
 * nesting. `renest([a, b, c], [[1, 2], [3]])` → `[[a, b], [c]]`.
 */
export function renest(flat: readonly unknown[], shape: readonly unknown[]): unknown[] {
  let next = 0;
  const build = (s: readonly unknown[]): unknown[] => s.map((item) => (Array.isArray(item) ? build(item) : flat[next++]));
  return build(shape);
}

/**
 * The nested list a `nested` map node's elements were flattened from (its
 * mapped input, resolved again from the producers' outputs), or undefined
 * when the node is not nested or the input cannot be had.
 */
export function mapShape(n: NodeRuntime, outputsOf: (node: string) => Outputs | undefined): unknown[] | undefined {
  const spec = n.node.map;
  const name = spec?.over[0];
  if (spec?.nested !== true || name === undefined) return undefined;
  const resolved = resolveInputs(n.node.inputs, outputsOf);
  const v = resolved.ok ? resolved.values[name] : undefined;
  return Array.isArray(v) ? v : undefined;
}

/**
 * The parent's outputs: each output name maps to the list of the elements'
 * values, in element order (null where one lacks it); with `shape` (a
 * `nested` map), each list is nested back to that shape.
 */
export function collectOutputs(elements: readonly NodeRuntime[], shape?: readonly unknown[]): Record<string, unknown[]> {
  const names = new Set<string>();
  const outs = elements.map((e) => {
    const o = e.record.outputs;
    const obj = typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : {};
    for (const k of Object.keys(obj)) names.add(k);
    return obj;
  });
  return Object.fromEntries(
    [...names].map((k) => {
      const values = outs.map((o) => (Object.hasOwn(o, k) ? o[k] : null));
      return [k, shape === undefined ? values : renest(values, shape)];
    }),
  );
}

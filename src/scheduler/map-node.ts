/**
 * MapNode (nipype's `MapNode`, dynamic): when a map node becomes ready, its
 * listed inputs are resolved and it is expanded into one element per item
 * (zip: the i-th items together; product: every combination). Elements run
 * as ordinary nodes with the parent's resources in `mapflow/_<node><i>`; the
 * parent then collects their outputs into lists, in element order. Pure.
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
    const v = resolved.values[name];
    if (!Array.isArray(v)) return { ok: false, reason: `map: input "${name}" must be a list, got ${v === null ? 'null' : typeof v}` };
    // nipype fails a MapNode with nothing to iterate over: so does flowgate, rather than succeed with empty lists.
    if (v.length === 0) return { ok: false, reason: `map: input "${name}" is an empty list; a map node needs at least one item` };
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

/** The parent's outputs: each output name maps to the list of the elements' values, in element order (null where one lacks it). */
export function collectOutputs(elements: readonly NodeRuntime[]): Record<string, unknown[]> {
  const names = new Set<string>();
  const outs = elements.map((e) => {
    const o = e.record.outputs;
    const obj = typeof o === 'object' && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : {};
    for (const k of Object.keys(obj)) names.add(k);
    return obj;
  });
  return Object.fromEntries([...names].map((k) => [k, outs.map((o) => (Object.hasOwn(o, k) ? o[k] : null))]));
}

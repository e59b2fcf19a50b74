/**
 * MapNode `nested` (nipype's `MapNode(nested=True)`): the mapped input is
 * flattened into elements (nipype's `flatten`) and each collected output is
 * nested back to the input's shape (nipype's `unflatten`); only one mapped
 * input may be nested.
 */
import { describe, expect, it } from 'vitest';
import { collectOutputs, flattenList, mapShape, planMap, renest } from '../../src/scheduler/map-node.js';
import { RunGraph, type NodeRuntime } from '../../src/scheduler/run-graph.js';
import { ValidationError } from '../../src/shared/errors.js';
import { validateWorkflow } from '../../src/shared/workflow/parse.js';
import type { Workflow } from '../../src/shared/workflow/model.js';
import { catchError } from './support.js';

function graph(wf: Workflow): RunGraph {
  const g = new RunGraph({ workflow: wf, budget: { n_procs: 2, mem_gb: 4 }, order: 'tsort', raiseInsufficient: true, workDir: '/w', clock: () => 1000 });
  g.start();
  return g;
}

describe('flatten and renest', () => {
  it('opens lists at every depth, drops empty ones, and lays values back out in the same shape', () => {
    const shape = [[1, 2], [], [3, [4, [5]]], 6];
    expect(flattenList(shape)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(renest(['a', 'b', 'c', 'd', 'e', 'f'], shape)).toEqual([['a', 'b'], [], ['c', ['d', ['e']]], 'f']);
    expect(flattenList([1, 2])).toEqual([1, 2]);
  });
});

describe('nested map', () => {
  const wf = validateWorkflow({
    name: 'm',
    nodes: [
      { id: 'n', map: { over: ['a'], nested: true }, inputs: { a: [[1, 2], [3]], c: 'same' }, command: 'true' },
      { id: 'flat', map: { over: ['a'] }, inputs: { a: [[1, 2], [3]] }, command: 'true' },
      { id: 'empty', map: { over: ['a'], nested: true }, inputs: { a: [[], [[]]] }, command: 'true' },
    ],
  });
  const g = graph(wf);
  const none = () => undefined;

  it('makes one element per item of the flattened list (without nested: one per top-level item)', () => {
    const plan = planMap(g.node(0), 3, none);
    expect(plan.ok && plan.map.elements.map((e) => [e.id, e.inputs])).toEqual([
      ['_n0', { a: 1, c: 'same' }],
      ['_n1', { a: 2, c: 'same' }],
      ['_n2', { a: 3, c: 'same' }],
    ]);
    const flat = planMap(g.node(1), 3, none);
    expect(flat.ok && flat.map.elements.map((e) => e.inputs['a'])).toEqual([[1, 2], [3]]);
  });

  it('refuses a nested list with no items', () => {
    expect(planMap(g.node(2), 3, none)).toEqual({ ok: false, reason: 'map: input "a" holds only empty lists; a map node needs at least one item' });
  });

  it('nests each collected output back to the mapped input\'s shape', () => {
    const shape = mapShape(g.node(0), none);
    expect(shape).toEqual([[1, 2], [3]]);
    expect(mapShape(g.node(1), none)).toBeUndefined();
    const element = (outputs: unknown) => ({ record: { outputs } }) as unknown as NodeRuntime;
    expect(collectOutputs([element({ o: 'x1', p: 1 }), element({ o: 'x2' }), element({ o: 'x3', p: 3 })], shape)).toEqual({ o: [['x1', 'x2'], ['x3']], p: [[1, null], [3]] });
  });

  it('refuses nested with several mapped inputs, naming the node and field', () => {
    const err = catchError(() => validateWorkflow({ name: 'm', nodes: [{ id: 'two', map: { over: ['a', 'b'], nested: true }, inputs: { a: [[1]], b: [[2]] }, command: 'true' }] }), ValidationError);
    expect(err.issues.map((i) => `${i.node ?? ''} ${i.field ?? ''}`)).toEqual(['two nodes[0].map.nested']);
    expect(err.issues[0]?.message).toContain('"nested" maps over one input; this node maps over "a", "b"');
  });

  it('counts a literal nested list\'s items against --max-nodes', () => {
    const node = (nested: boolean) => ({ name: 'm', nodes: [{ id: 'n', map: { over: ['a'], nested }, inputs: { a: [[1, 2], [3, 4]] }, command: 'true' }] });
    expect(() => validateWorkflow(node(false), undefined, { maxNodes: 3 })).not.toThrow();
    const err = catchError(() => validateWorkflow(node(true), undefined, { maxNodes: 3 }), ValidationError);
    expect(err.issues[0]?.message).toBe('map over lists of 4 items = 4 nodes exceeds --max-nodes 3');
  });
});

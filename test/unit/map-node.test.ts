/**
 * Map nodes: planning elements from resolved inputs (zip, product, errors),
 * expansion in the run graph (elements ready, parent waiting, budget held per
 * element) and collecting outputs in element order.
 */
import { describe, expect, it } from 'vitest';
import { collectOutputs, planMap } from '../../src/scheduler/map-node.js';
import { RunGraph } from '../../src/scheduler/run-graph.js';
import type { Workflow } from '../../src/shared/workflow/model.js';
import { validateWorkflow } from '../../src/shared/workflow/parse.js';

function graph(wf: Workflow, budget = { n_procs: 2, mem_gb: 4 }): RunGraph {
  const g = new RunGraph({ workflow: wf, budget, order: 'tsort', raiseInsufficient: true, workDir: '/w', clock: () => 1000 });
  g.start();
  return g;
}

describe('planMap', () => {
  const wf = validateWorkflow({
    name: 'm',
    nodes: [
      { id: 'z', map: { over: ['a', 'b'] }, inputs: { a: [1, 2], b: ['x', 'y'], c: 'same' }, command: 'true' },
      { id: 'p', map: { over: ['a', 'b'], mode: 'product' }, inputs: { a: [1, 2], b: ['x', 'y', 'z'] }, command: 'true' },
      { id: 'bad', map: { over: ['a', 'b'] }, inputs: { a: [1, 2], b: ['x'] }, command: 'true' },
      { id: 'scalar', map: { over: ['a'] }, inputs: { a: 'one' }, command: 'true' },
    ],
  });
  const g = graph(wf);
  const none = () => undefined;

  it('zips the i-th items, keeps the other inputs, and places elements under mapflow/', () => {
    expect(planMap(g.node(0), 10, none)).toEqual({
      ok: true,
      map: {
        first: 10,
        elements: [
          { id: '_z0', inputs: { a: 1, b: 'x', c: 'same' }, dir: '/w/m/z/mapflow/_z0' },
          { id: '_z1', inputs: { a: 2, b: 'y', c: 'same' }, dir: '/w/m/z/mapflow/_z1' },
        ],
      },
    });
  });

  it('takes every combination in product mode', () => {
    const plan = planMap(g.node(1), 0, none);
    expect(plan.ok && plan.map.elements.map((e) => `${String(e.inputs['a'])}${String(e.inputs['b'])}`)).toEqual(['1x', '1y', '1z', '2x', '2y', '2z']);
  });

  it('refuses zip lists of different lengths and inputs that are not lists', () => {
    expect(planMap(g.node(2), 0, none)).toEqual({ ok: false, reason: 'map (zip): inputs a has 2, b has 1 items; zip needs lists of one length' });
    expect(planMap(g.node(3), 0, none)).toEqual({ ok: false, reason: 'map: input "a" must be a list, got string' });
  });
});

describe('expansion in the run graph', () => {
  it('makes the elements ready with the parent\'s resources, the parent waits, then collects in order', () => {
    const wf = validateWorkflow({ name: 'm', nodes: [{ id: 'm', map: { over: ['i'] }, inputs: { i: [0, 1, 2] }, command: 'true', n_procs: 2, mem_gb: 1 }, { id: 'after', needs: ['m'], command: 'true' }] });
    const g = graph(wf, { n_procs: 4, mem_gb: 8 });
    const plan = planMap(g.node(0), g.nodes.length, () => undefined);
    if (!plan.ok) throw new Error(plan.reason);
    const elements = g.expandMap(0, plan.map);
    g.startElements(0, elements);
    expect(g.node(0).state).toBe('waiting');
    expect(elements.map((e) => [e.node.id, e.state, e.index, e.candidate.grant.n_procs])).toEqual([
      ['_m0', 'ready', 2, 2],
      ['_m1', 'ready', 3, 2],
      ['_m2', 'ready', 4, 2],
    ]);
    // Budget 4 procs: two elements of 2 procs at a time.
    expect(g.admit().map((n) => n.node.id)).toEqual(['_m0', '_m1']);
    for (const e of [elements[0], elements[1]]) if (e !== undefined) g.complete(e.index, 1, { ok: true, outputs: { o: e.node.id } } as never);
    expect(g.admit().map((n) => n.node.id)).toEqual(['_m2']);
    if (elements[2] !== undefined) g.complete(elements[2].index, 1, { ok: true } as never);
    expect(g.node(0).state).toBe('ready');
    g.collectMap(0, collectOutputs(elements), 'digest', ['_m0', '_m1', '_m2']);
    expect(g.node(0).state).toBe('succeeded');
    expect(g.node(0).record.result).toBe('digest');
    expect(g.node(0).record.outputs).toEqual({ o: ['_m0', '_m1', null] });
    expect(g.node(0).record.cache?.reasons).toEqual(['elements ran: _m0, _m1, _m2']);
    expect(g.node(1).state).toBe('ready');
  });

  it('names at most 20 elements that ran in the map node\'s cache reason', () => {
    const wf = validateWorkflow({ name: 'm', nodes: [{ id: 'm', map: { over: ['i'] }, inputs: { i: Array.from({ length: 25 }, (_, k) => k) }, command: 'true' }] });
    const g = graph(wf, { n_procs: 32, mem_gb: 64 });
    const plan = planMap(g.node(0), g.nodes.length, () => undefined);
    if (!plan.ok) throw new Error(plan.reason);
    const elements = g.expandMap(0, plan.map);
    g.startElements(0, elements);
    for (const e of g.admit()) g.complete(e.index, 1, { ok: true } as never);
    g.collectMap(0, collectOutputs(elements), 'digest', elements.map((e) => e.node.id));
    expect(g.node(0).record.cache?.reasons).toEqual([`elements ran: ${elements.slice(0, 20).map((e) => e.node.id).join(', ')} and 5 more`]);
  });
});

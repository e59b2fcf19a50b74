/**
 * JoinNode `unique` (nipype's `JoinNode(unique=True)`): the join's gathers
 * carry the flag through expansion, and the values are deduplicated where
 * inputs are resolved at dispatch, first occurrence kept, so the job (and its
 * cache key, built from the job's inputs) sees the deduplicated list.
 */
import { describe, expect, it } from 'vitest';
import { buildNodeJob } from '../../src/scheduler/node-job.js';
import { RunGraph } from '../../src/scheduler/run-graph.js';
import { ValidationError } from '../../src/shared/errors.js';
import { validateWorkflow } from '../../src/shared/workflow/parse.js';
import { resolveInputs, uniqueValues } from '../../src/shared/workflow/template.js';
import { catchError } from './support.js';

const wf = (nodes: unknown[]) => validateWorkflow({ name: 'w', nodes });

describe('join unique', () => {
  const nodes = (unique: boolean | undefined) => [
    { id: 'src', command: 'true', iterables: { a: [1, 2], b: ['x', 'y'] }, stdout_json: true },
    { id: 'j', command: 'true', join: { source: 'src', fields: ['as'], ...(unique === undefined ? {} : { unique }) }, inputs: { as: { from: 'src.out' }, one: { from: 'src.out' } } },
  ];

  it('marks the joined fields\' gathers unique, and only them', () => {
    const j = wf(nodes(true)).nodes.find((n) => n.id === 'j');
    expect(j?.inputs['as']).toMatchObject({ kind: 'gather', unique: true });
    expect(j?.inputs['as']).toMatchObject({ sources: [{ node: 'src._a_1_b_x' }, { node: 'src._a_1_b_y' }, { node: 'src._a_2_b_x' }, { node: 'src._a_2_b_y' }] });
    // `one` is not a join field, but reads every copy as well: a plain gather.
    expect(j?.inputs['one']).toMatchObject({ kind: 'gather' });
    expect(j?.inputs['one']).not.toHaveProperty('unique');
    for (const unique of [false, undefined]) expect(wf(nodes(unique)).nodes.find((n) => n.id === 'j')?.inputs['as']).not.toHaveProperty('unique');
  });

  it('resolves the copies\' values without repeats, first occurrence kept (the iterable values joined directly)', () => {
    const j = wf(nodes(true)).nodes.find((n) => n.id === 'j');
    // Each copy outputs its own iterable value `a`: 1, 1, 2, 2.
    const outputsOf = (id: string) => ({ out: Number(/_a_(\d)/.exec(id)?.[1]) });
    expect(resolveInputs(j?.inputs ?? {}, outputsOf)).toEqual({ ok: true, values: { as: [1, 2], one: [1, 1, 2, 2] } });
  });

  it('compares lists and objects by content, whatever their key order', () => {
    expect(uniqueValues([3, { p: 1, q: [2] }, 1, 3, { q: [2], p: 1 }, '3', null, null, [1], [1]])).toEqual([3, { p: 1, q: [2] }, 1, '3', null, [1]]);
  });

  it('accepts {from: [...], unique: true} written by hand and refuses it on a single connection', () => {
    const w = wf([
      { id: 'p', command: 'true', stdout_json: true },
      { id: 'q', command: 'true', stdout_json: true },
      { id: 'c', command: 'true', inputs: { xs: { from: ['p.o', 'q.o'], unique: true } } },
    ]);
    expect(w.nodes[2]?.inputs['xs']).toEqual({ kind: 'gather', sources: [{ node: 'p', output: 'o' }, { node: 'q', output: 'o' }], unique: true });
    const err = catchError(() => wf([{ id: 'p', command: 'true', stdout_json: true }, { id: 'c', command: 'true', inputs: { x: { from: 'p.o', unique: true } } }]), ValidationError);
    expect(err.issues.map((i) => `${i.node ?? ''} ${i.field ?? ''}: ${i.message}`)).toEqual(['c nodes[1].inputs.x.unique: "unique" needs a list of outputs in "from"']);
  });

  it('gives the job (and so its cache key) the deduplicated values', () => {
    const w = wf(nodes(true));
    const g = new RunGraph({ workflow: w, budget: { n_procs: 2, mem_gb: 4 }, order: 'tsort', raiseInsufficient: true, workDir: '/w', clock: () => 1000 });
    g.start();
    const j = g.nodes.find((n) => n.node.id === 'j');
    if (j === undefined) throw new Error('no join node');
    const built = buildNodeJob('run1', 'w', j, null, (id) => ({ out: id.includes('_a_1') ? 'one' : 'two' }));
    expect(built.ok && built.job.data.inputs?.['as']).toEqual(['one', 'two']);
  });
});

/**
 * Iterables and joins, expanded statically (nipype's generate_expanded_graph):
 * copy counts, names, lockstep values, what a join collects and in what order,
 * and the errors for joins and iterables that cannot work.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/shared/errors.js';
import { validateWorkflow } from '../../src/shared/workflow/parse.js';
import { combosOf, firstDuplicateLabel } from '../../src/shared/workflow/expand.js';
import type { WorkflowFile } from '../../src/shared/workflow/schema.js';
import { catchError } from './support.js';

const wf = (nodes: unknown[]) => validateWorkflow({ name: 'w', nodes });
const ids = (nodes: unknown[]) => wf(nodes).nodes.map((n) => n.id);

describe('iterables', () => {
  it('copies the node and every descendant once per value (nipype: a -> b(iterables x3) -> c gives 1 + 3 + 3 nodes)', () => {
    const w = wf([
      { id: 'a', command: 'true', stdout_json: true },
      { id: 'b', command: 'echo {{inputs.x}}', iterables: { x: [1, 2, 3] }, inputs: { v: { from: 'a.v' } }, stdout_json: true },
      { id: 'c', command: 'true', inputs: { r: { from: 'b.r' } } },
    ]);
    expect(w.nodes.map((n) => n.id)).toEqual(['a', 'b._x_1', 'b._x_2', 'b._x_3', 'c._x_1', 'c._x_2', 'c._x_3']);
    const b2 = w.nodes[2];
    expect(b2?.inputs).toEqual({ v: { kind: 'from', node: 'a', output: 'v' }, x: { kind: 'value', value: 2 } });
    expect(w.nodes[5]?.inputs).toEqual({ r: { kind: 'from', node: 'b._x_2', output: 'r' } });
    expect(w.nodes[5]?.needs).toEqual(['b._x_2']);
  });

  it('takes every combination of several iterables, or values in lockstep with synchronize', () => {
    expect(ids([{ id: 'n', command: 'true', iterables: { a: ['p', 'q'], b: [1, 2] } }])).toEqual(['n._a_p_b_1', 'n._a_p_b_2', 'n._a_q_b_1', 'n._a_q_b_2']);
    expect(ids([{ id: 'n', command: 'true', iterables: { a: ['p', 'q'], b: [1, 2] }, synchronize: true }])).toEqual(['n._a_p_b_1', 'n._a_q_b_2']);
  });

  it('names copies by the sorted field names, as nipype (`_fwhm_4_subject_s1`)', () => {
    expect(ids([{ id: 's', command: 'true', iterables: { subject: ['s1'], fwhm: [4, 8] } }])).toEqual(['s._fwhm_4_subject_s1', 's._fwhm_8_subject_s1']);
  });

  it('synchronize with lists of different lengths: as many copies as the longest, later copies without the shorter lists (nipype)', () => {
    const w = wf([{ id: 's', command: 'true', iterables: { a: [1, 2], b: [3], c: [4, 5, 6] }, synchronize: true }]);
    expect(w.nodes.map((n) => n.id)).toEqual(['s._a_1_b_3_c_4', 's._a_2_c_5', 's._c_6']);
    expect(w.nodes.map((n) => Object.keys(n.inputs).sort())).toEqual([['a', 'b', 'c'], ['a', 'c'], ['c']]);
  });

  it('nests a copy\'s directories by the longest path from each iterable source, then by name (nipype)', () => {
    // Z reaches D through M (2 steps), A directly (1): _zeta_ is the outer directory although _alpha_ sorts first.
    const w = wf([
      { id: 'A', command: 'true', iterables: { alpha: [1] } },
      { id: 'Z', command: 'true', iterables: { zeta: [1] } },
      { id: 'M', command: 'true', needs: ['Z'] },
      { id: 'D', command: 'true', needs: ['A', 'M'] },
    ]);
    expect(w.nodes.find((n) => n.id.startsWith('D'))?.dir).toBe('_zeta_1/_alpha_1/D');
    // At equal depth, by name.
    const v = wf([
      { id: 'Z', command: 'true', iterables: { zeta: [1] } },
      { id: 'A', command: 'true', iterables: { alpha: [1] } },
      { id: 'D', command: 'true', needs: ['Z', 'A'] },
    ]);
    expect(v.nodes.find((n) => n.id.startsWith('D'))?.dir).toBe('_alpha_1/_zeta_1/D');
  });

  it('multiplies chained iterables and makes directory-safe names', () => {
    expect(
      ids([
        { id: 's', command: 'true', iterables: { subj: ['sub 1', 'sub/2'] }, stdout_json: true },
        { id: 't', command: 'true', iterables: { k: [true, false] }, inputs: { f: { from: 's.o' } } },
      ]),
    ).toEqual(['s._subj_sub_1', 's._subj_sub_2', 't._subj_sub_1._k_true', 't._subj_sub_1._k_false', 't._subj_sub_2._k_true', 't._subj_sub_2._k_false']);
  });
});

describe('join', () => {
  it('collects the copies\' outputs into lists in value order (nipype JoinNode), once per remaining iterable', () => {
    const w = wf([
      { id: 'subj', command: 'true', iterables: { s: ['a', 'b'] }, stdout_json: true },
      { id: 'sm', command: 'true', iterables: { fwhm: [4, 8] }, inputs: { f: { from: 'subj.o' } }, stdout_json: true },
      { id: 'per', command: 'true', join: { source: 'sm', fields: ['xs'] }, inputs: { xs: { from: 'sm.o' } } },
      { id: 'all', command: 'true', join: { source: 'subj', fields: ['ys'] }, inputs: { ys: { from: 'subj.o' } }, needs: ['per'] },
    ]);
    const byId = new Map(w.nodes.map((n) => [n.id, n]));
    expect(w.nodes).toHaveLength(2 + 4 + 2 + 1);
    expect(byId.get('per._s_b')?.inputs['xs']).toEqual({ kind: 'gather', sources: [{ node: 'sm._s_b._fwhm_4', output: 'o' }, { node: 'sm._s_b._fwhm_8', output: 'o' }] });
    expect(byId.get('all')?.inputs['ys']).toEqual({ kind: 'gather', sources: [{ node: 'subj._s_a', output: 'o' }, { node: 'subj._s_b', output: 'o' }] });
    expect(byId.get('all')?.needs).toEqual(['per._s_a', 'per._s_b', 'subj._s_a', 'subj._s_b']);
  });

  it('refuses joins and iterables that cannot work, naming the field', () => {
    const err = catchError(
      () =>
        wf([
          { id: 'it', command: 'true', iterables: { x: [1, 2], y: [1] }, synchronize: true, inputs: { x: 0 } },
          { id: 'plain', command: 'true' },
          { id: 'j1', command: 'true', join: { source: 'plain', fields: ['a'] }, inputs: { a: 1 } },
          { id: 'j2', command: 'true', join: { source: 'it', fields: ['nope'] } },
          { id: 'j3', command: 'true', join: { source: 'ghost', fields: ['a'] }, inputs: { a: 1 } },
          { id: 'dup', command: 'true', iterables: { v: ['a b', 'a_b'] } },
        ]),
      ValidationError,
    );
    expect(err.issues.map((i) => `${i.field ?? ''}: ${i.message}`)).toEqual([
      'nodes[0].iterables.x: "x" is both an input and an iterable',
      'nodes[2].join.source: "plain" has no iterables to join',
      'nodes[3].join.source: "it" is not upstream of this node',
      'nodes[3].join.fields[0]: no input "nope" to collect',
      'nodes[4].join.source: unknown node "ghost"',
      'nodes[5].iterables: two values give the same directory name "_v_a_b"',
    ]);
  });

  it('finds the same first shared directory name as the copies themselves would have', () => {
    const pool = ['a', 'a b', 'a_b', 'b', 1, 2, '1', 'x/y', 'x_y', true];
    let seed = 11;
    const next = (k: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % k;
    };
    for (let round = 0; round < 300; round++) {
      const fields = ['s', 'f', 'a', 'z'].slice(0, 1 + next(3));
      const iterables = Object.fromEntries(fields.map((f) => [f, Array.from({ length: 1 + next(4) }, () => pool[next(pool.length)] as string | number | boolean)]));
      const node = { id: 'n', command: 'true', iterables, ...(next(3) === 0 ? { synchronize: true } : {}) } as WorkflowFile['nodes'][number];
      const seen = new Set<string>();
      const expected = combosOf(node).find((c) => (seen.has(c.label) ? true : (seen.add(c.label), false)))?.label;
      expect(firstDuplicateLabel(node), JSON.stringify(node)).toBe(expected);
    }
  });

  it('refuses an empty iterables map (it would make no copy at all)', () => {
    const err = catchError(() => wf([{ id: 'n', command: 'true', iterables: {} }]), ValidationError);
    expect(err.issues.map((i) => `${i.field ?? ''}: ${i.message}`)).toEqual(['nodes[0].iterables: name at least one parameter']);
  });

  it('gathers an explicit list of connections in order', () => {
    const w = wf([
      { id: 'a', command: 'true', stdout_json: true },
      { id: 'b', command: 'true', stdout_json: true },
      { id: 'c', command: ['cat', '{{inputs.xs}}'], inputs: { xs: { from: ['b.o', 'a.o'] } } },
    ]);
    expect(w.nodes[2]?.inputs['xs']).toEqual({ kind: 'gather', sources: [{ node: 'b', output: 'o' }, { node: 'a', output: 'o' }] });
    expect(w.nodes[2]?.needs).toEqual(['b', 'a']);
  });
});

/**
 * Run definitions read back from Redis are checked: a stored field that is
 * not what flowgate writes is an error naming the run and the field. Nodes
 * are stored without the fields at their defaults and read back whole.
 */
import { describe, expect, it } from 'vitest';
import { definitionFromMeta, metaFields, type RunDefinition } from '../../src/scheduler/run-definition.js';
import { ValidationError } from '../../src/shared/errors.js';
import type { Workflow } from '../../src/shared/workflow/model.js';
import { validateWorkflow } from '../../src/shared/workflow/parse.js';
import { catchError } from './support.js';

const DEF: RunDefinition = {
  runId: 'r1',
  workflow: { name: 'w', nodes: [] } as unknown as Workflow,
  budget: { n_procs: 4, mem_gb: 8 },
  order: 'mem_thread',
  raiseInsufficient: false,
  stopOnFirstCrash: true,
  workDir: '/w',
  crashdumpDir: '/w/_crashes',
  memoryMargin: 0.1,
};

describe('definitionFromMeta', () => {
  it('reads back what metaFields stored', () => {
    const back = definitionFromMeta('r1', metaFields(DEF, 0));
    expect(back).toMatchObject({ budget: DEF.budget, order: 'mem_thread', raiseInsufficient: false, stopOnFirstCrash: true, workDir: '/w', memoryMargin: 0.1 });
  });

  it('names the run and the field of a stored value that is not what flowgate writes', () => {
    const meta = metaFields(DEF, 0);
    const badOptions = catchError(() => definitionFromMeta('r1', { ...meta, options: JSON.stringify({ ...JSON.parse(meta['options'] as string), work_dir: 7 }) }), ValidationError);
    expect(badOptions.issues.map((i) => i.field)).toEqual(['run r1 options.work_dir']);
    const badOrder = catchError(() => definitionFromMeta('r1', { ...meta, scheduler: 'fifo' }), ValidationError);
    expect(badOrder.issues.map((i) => i.field)).toEqual(['run r1 scheduler']);
    const badBudget = catchError(() => definitionFromMeta('r1', { ...meta, budget: '{"n_procs": -1}' }), ValidationError);
    expect(badBudget.issues.map((i) => i.field)).toEqual(['run r1 budget.n_procs', 'run r1 budget.memory_gb']);
    const notJson = catchError(() => definitionFromMeta('r1', { ...meta, definition: '{' }), ValidationError);
    expect(notJson.issues).toEqual([{ field: 'run r1 definition', message: 'the stored value is not JSON' }]);
  });
});

describe('the stored workflow', () => {
  const workflow = validateWorkflow(
    {
      version: 1,
      name: 'w',
      nodes: [
        { id: 'a', command: ['true'] },
        { id: 'b', command: 'echo {{inputs.x}} > out.txt', needs: ['a'], inputs: { x: 1 }, outputs: { out: 'out.txt' }, env: { K: 'v' }, retries: 2, retry_delay_s: 1, timeout_s: 30, overwrite: true, resources: { gpu: 1 }, n_procs: 2, mem_gb: 3, host: 'h1' },
        { id: 'c', command: ['true'], iterables: { p: [1, 2] } },
      ],
    },
    undefined,
    { baseDir: '/base' },
  );

  it('leaves out fields at their defaults and reads back the same nodes', () => {
    const meta = metaFields({ ...DEF, workflow }, 0);
    const stored = JSON.parse(meta['definition'] as string) as { nodes: Array<Record<string, unknown>> };
    expect(stored.nodes[0]).toEqual({ id: 'a', index: 0, command: ['true'], function: null, code_version: null, needs: [], n_procs: 1, mem_gb: 0.2, env: {}, shell: null, timeout_s: null, retries: 0, retry_delay_s: 0 });
    expect(stored.nodes[1]).toMatchObject({ env: { K: 'v' }, retries: 2, retry_delay_s: 1, timeout_s: 30, overwrite: true, resources: { gpu: 1 }, host: ['h1'] });
    // Iterables copies keep their directory (it is not their id).
    expect(stored.nodes.filter((n) => n['dir'] !== undefined).length).toBeGreaterThan(0);
    const back = definitionFromMeta('r1', meta).workflow;
    expect(back.nodes).toEqual(workflow.nodes);
    expect(back.nodes.map((n) => Object.keys(n).sort())).toEqual(workflow.nodes.map((n) => Object.keys(n).sort()));
    // Absent objects are the shared frozen empty one, as for nodes read from a file.
    expect(back.nodes[0]!.env).toBe(workflow.nodes[0]!.env);
  });

  it('can be read by the previous version, which puts back only some fields', () => {
    // The previous version's reader (run-definition.ts before fields were left out).
    const LEGACY_SHELL = { path: '/bin/sh', flags: [] as string[] };
    const previous = (nodes: Array<Record<string, unknown>>): unknown[] =>
      nodes.map((n) => ({ ...n, inputs: n['inputs'] ?? {}, outputs: n['outputs'] ?? {}, stdout_json: n['stdout_json'] ?? false, resources: n['resources'] ?? {}, overwrite: n['overwrite'] ?? false, map: n['map'] ?? null, dir: n['dir'] ?? n['id'], shell: n['shell'] !== undefined ? n['shell'] : typeof n['command'] === 'string' ? LEGACY_SHELL : null }));
    const stored = JSON.parse(metaFields({ ...DEF, workflow }, 0)['definition'] as string) as { nodes: Array<Record<string, unknown>> };
    expect(previous(stored.nodes)).toEqual(workflow.nodes);
  });

  it('puts back every field at its default, so that a later version can leave them all out', () => {
    const meta = { ...metaFields({ ...DEF, workflow }, 0), definition: JSON.stringify({ name: 'w', nodes: [{ id: 'a', command: ['true'], needs: [], n_procs: 1, mem_gb: 0.2, shell: null }] }) };
    expect(definitionFromMeta('r1', meta).workflow.nodes).toEqual([workflow.nodes[0]]);
  });

  it('reads back runs stored whole, as earlier versions stored them', () => {
    const meta = { ...metaFields({ ...DEF, workflow }, 0), definition: JSON.stringify(workflow) };
    expect(definitionFromMeta('r1', meta).workflow.nodes).toEqual(workflow.nodes);
  });
});

/**
 * Run definitions read back from Redis are checked: a stored field that is
 * not what flowgate writes is an error naming the run and the field.
 */
import { describe, expect, it } from 'vitest';
import { definitionFromMeta, metaFields, type RunDefinition } from '../../src/scheduler/run-definition.js';
import { ValidationError } from '../../src/shared/errors.js';
import type { Workflow } from '../../src/shared/workflow/model.js';
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

/**
 * The example workflows shipped in examples/ stay valid.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadWorkflowFile } from '../../src/shared/workflow/parse.js';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');
const files = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f));

describe('examples/', () => {
  it('has workflow files', () => expect(files.length).toBeGreaterThanOrEqual(2));
  it.each(files)('%s is a valid workflow', (f) => {
    expect(loadWorkflowFile(join(EXAMPLES, f)).nodes.length).toBeGreaterThan(0);
  });
  it('dataflow.yaml expands its iterables into four copies joined by one node', () => {
    expect(loadWorkflowFile(join(EXAMPLES, 'dataflow.yaml')).nodes.map((n) => n.id)).toEqual([
      'generate',
      'partial._part_0_scale_1',
      'partial._part_0_scale_10',
      'partial._part_1_scale_1',
      'partial._part_1_scale_10',
      'total',
    ]);
  });
});

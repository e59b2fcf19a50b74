import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workflowJsonSchema } from '../../src/shared/workflow/schema.js';

describe('JSON Schema of the workflow format', () => {
  it('matches the committed schema/workflow-v1.schema.json (run `npm run schema` after changing the format)', () => {
    const committed = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../schema/workflow-v1.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(workflowJsonSchema());
  });

  it('describes the node fields and forbids unknown keys', () => {
    const schema = workflowJsonSchema() as { required: string[]; additionalProperties: boolean; properties: Record<string, unknown> };
    expect(schema.required).toEqual(['name', 'nodes']);
    expect(schema.additionalProperties).toBe(false);
    const nodes = schema.properties['nodes'] as { items: { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean } };
    expect(Object.keys(nodes.items.properties).sort()).toEqual(['code_version', 'command', 'config', 'env', 'function', 'host', 'host_labels', 'id', 'inputs', 'iterables', 'join', 'map', 'max_output_bytes', 'mem_gb', 'n_procs', 'needs', 'outputs', 'overwrite', 'resources', 'retries', 'retry_delay_s', 'shell', 'stdout_json', 'synchronize', 'timeout_s']);
    expect(nodes.items.required).toEqual(['id']);
    // A path input is one of the input forms.
    expect(JSON.stringify(nodes.items.properties.inputs)).toMatch(/"properties":\{"path":\{"type":"string"/);
    expect(nodes.items.additionalProperties).toBe(false);
  });
});

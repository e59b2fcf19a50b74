import { describe, expect, it } from 'vitest';
import { exportGraph, groupOf } from '../../src/shared/workflow/graph-export.js';
import type { Workflow, WorkflowNode } from '../../src/shared/workflow/model.js';

const node = (id: string, over: Partial<WorkflowNode> = {}): WorkflowNode =>
  ({ id, index: 0, command: 'true', function: null, code_version: null, needs: [], n_procs: 1, mem_gb: 0.25, resources: {}, env: {}, shell: null, timeout_s: null, retries: 0, retry_delay_s: 0, inputs: {}, outputs: {}, stdout_json: false, overwrite: false, map: null, dir: id, ...over }) as WorkflowNode;

const wf = {
  name: 'say "hi"',
  nodes: [
    node('a'),
    node('b._s_1', { needs: ['a'], dir: '_s_1/b' }),
    node('c._s_1._t_2', { needs: ['b._s_1'], dir: '_s_1/_t_2/c' }),
    node('m', { needs: ['a'], map: { over: ['x', 'y'], mode: 'product' }, n_procs: 2 }),
  ],
} as unknown as Workflow;

describe('workflow graph export', () => {
  it('groups iterable copies by their directories, nested', () => {
    expect(groupOf({ dir: '_s_1/_t_2/c' })).toEqual(['_s_1', '_t_2']);
    expect(groupOf({ dir: 'a' })).toEqual([]);
    const dot = exportGraph(wf, 'dot');
    expect(dot.startsWith('digraph "say \\"hi\\"" {')).toBe(true);
    // _t_2 is a cluster inside _s_1.
    const outer = dot.indexOf('label="_s_1"');
    const inner = dot.indexOf('label="_t_2"');
    expect(outer).toBeGreaterThan(0);
    expect(inner).toBeGreaterThan(outer);
    expect(dot).toContain('n3 [label="m\\n2 procs, 0.25 GB\\nmap over x, y (product)", shape=box3d];');
    expect(dot).toContain('n0 -> n1;');
    expect(dot).toContain('n1 -> n2;');
    expect(dot.match(/subgraph/g)).toHaveLength(2);
    expect(dot.match(/\{/g)?.length).toBe(dot.match(/\}/g)?.length);
  });

  it('writes Mermaid with subgraphs and JSON with groups', () => {
    const mermaid = exportGraph(wf, 'mermaid');
    expect(mermaid.split('\n')[0]).toBe('flowchart TD');
    expect(mermaid).toContain('subgraph g0["_s_1"]');
    expect(mermaid).toContain('n3[["m<br/>2 procs, 0.25 GB<br/>map over x, y (product)"]]');
    expect(mermaid).toContain('n0 --> n3');
    expect(mermaid.match(/subgraph/g)?.length).toBe(mermaid.match(/^\s*end$/gm)?.length);
    const json = JSON.parse(exportGraph(wf, 'json')) as { nodes: Array<{ id: string; group: string[]; map?: unknown }> };
    expect(json.nodes.map((n) => [n.id, n.group])).toEqual([
      ['a', []],
      ['b._s_1', ['_s_1']],
      ['c._s_1._t_2', ['_s_1', '_t_2']],
      ['m', []],
    ]);
    expect(json.nodes[3]?.map).toEqual({ over: ['x', 'y'], mode: 'product' });
  });
});

/**
 * A node's named resources (`resources`, also in `defaults:`) and host
 * constraints (`host`, `host_labels`): parsed with defaults applied, inherited
 * by iterables copies and map elements, every error naming file, node, field
 * and line; a run definition stored before these fields still reads back.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflow } from '../../src/api/workflow.js';
import { planMap } from '../../src/scheduler/map-node.js';
import { definitionFromMeta, metaFields } from '../../src/scheduler/run-definition.js';
import { RunGraph } from '../../src/scheduler/run-graph.js';
import { ValidationError } from '../../src/shared/errors.js';
import { exportGraph } from '../../src/shared/workflow/graph-export.js';
import { loadWorkflowFile, validateWorkflow } from '../../src/shared/workflow/parse.js';
import type { Workflow } from '../../src/shared/workflow/model.js';
import { KNOWN_KEYS, workflowJsonSchema } from '../../src/shared/workflow/schema.js';
import { catchError } from './support.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'flowgate-node-resources-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const invalid = (raw: unknown): ValidationError => catchError(() => validateWorkflow(raw, { file: 'wf.json' }), ValidationError);
const messages = (err: ValidationError): Record<string, string> => Object.fromEntries(err.issues.map((i) => [i.field ?? '', i.message]));

describe('node resources', () => {
  it('are {} when neither the node nor defaults name any', () => {
    const wf = validateWorkflow({ name: 'w', nodes: [{ id: 'a', command: 'true' }] });
    expect(wf.nodes[0]?.resources).toEqual({});
    expect(wf.nodes[0]).not.toHaveProperty('host');
    expect(wf.nodes[0]).not.toHaveProperty('host_labels');
  });

  it('take defaults.resources, overridden per name by the node, with zero counts dropped', () => {
    const wf = validateWorkflow({
      name: 'w',
      defaults: { resources: { gpu: 1, licence_x: 2 } },
      nodes: [
        { id: 'plain', command: 'true' },
        { id: 'more', command: 'true', resources: { gpu: 2, tpu: 1 } },
        { id: 'cpu_only', command: 'true', resources: { gpu: 0, licence_x: 0 } },
        { id: 'none', command: 'true', resources: {} },
      ],
    });
    expect(Object.fromEntries(wf.nodes.map((n) => [n.id, n.resources]))).toEqual({
      plain: { gpu: 1, licence_x: 2 },
      more: { gpu: 2, licence_x: 2, tpu: 1 },
      cpu_only: {},
      none: { gpu: 1, licence_x: 2 },
    });
  });

  it('refuses bad names, reserved names and counts that are not whole slots from 0 to 4096, naming node and field', () => {
    const err = invalid({ name: 'w', nodes: [{ id: 'a', command: 'x', resources: { GPU: 1, n_procs: 2, mem_gb: 1, gpu: 1.5, lic: -1, big: 5000, s: 'two' } }] });
    expect(err.code).toBe('WORKFLOW_INVALID');
    expect(err.issues.every((i) => i.file === 'wf.json' && i.node === 'a')).toBe(true);
    expect(messages(err)).toEqual({
      'nodes[0].resources.GPU': '"GPU" is not a resource name (lower-case letters, digits and _, starting with a letter, at most 32)',
      'nodes[0].resources.n_procs': '"n_procs" is not a named resource (threads and memory are the node\'s n_procs and mem_gb)',
      'nodes[0].resources.mem_gb': '"mem_gb" is not a named resource (threads and memory are the node\'s n_procs and mem_gb)',
      'nodes[0].resources.gpu': 'must be a whole number, received 1.5',
      'nodes[0].resources.lic': 'must be 0 or more, received number -1',
      'nodes[0].resources.big': 'must be at most 4096, received number 5000',
      'nodes[0].resources.s': 'expected number, received "two"',
    });
  });

  it('checks defaults.resources too', () => {
    const err = invalid({ name: 'w', defaults: { resources: { procs: 1, gpu: 'x' } }, nodes: [{ id: 'a', command: 'x' }] });
    expect(messages(err)).toEqual({
      'defaults.resources.procs': '"procs" is not a named resource (threads and memory are the node\'s n_procs and mem_gb)',
      'defaults.resources.gpu': 'expected number, received "x"',
    });
  });
});

describe('node host constraints', () => {
  it('read one host id or a list (repeats dropped), and a label selector', () => {
    const wf = validateWorkflow({
      name: 'w',
      nodes: [
        { id: 'one', command: 'true', host: 'gpu-box.1' },
        { id: 'two', command: 'true', host: ['a', 'b', 'a'], host_labels: { gpu: 'a100', zone: 'eu-1' } },
        { id: 'empty_labels', command: 'true', host_labels: {} },
      ],
    });
    expect(wf.nodes.map((n) => [n.id, n.host, n.host_labels])).toEqual([
      ['one', ['gpu-box.1'], undefined],
      ['two', ['a', 'b'], { gpu: 'a100', zone: 'eu-1' }],
      ['empty_labels', undefined, undefined],
    ]);
  });

  it('refuses host ids and labels a worker could not have, naming node and field', () => {
    const err = invalid({
      name: 'w',
      nodes: [
        { id: 'a', command: 'x', host: 'no spaces' },
        { id: 'b', command: 'x', host: ['ok', '-dash'] },
        { id: 'c', command: 'x', host: [] },
        { id: 'd', command: 'x', host: 3 },
        { id: 'e', command: 'x', host_labels: { Zone: 'b', gpu: 'a 100', n: 3 } },
      ],
    });
    const rule = 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit';
    expect(err.issues.map((i) => [i.node, i.field, i.message])).toEqual([
      ['a', 'nodes[0].host', `${rule}, received "no spaces"`],
      ['b', 'nodes[1].host[1]', `${rule}, received "-dash"`],
      ['c', 'nodes[2].host', 'name at least one host, received an array'],
      ['d', 'nodes[3].host', 'expected a host id or a list of host ids, received number 3'],
      ['e', 'nodes[4].host_labels.Zone', '"Zone" is not a label name (lower-case letters, digits and _, starting with a letter, at most 32)'],
      ['e', 'nodes[4].host_labels.gpu', 'must be 1-64 letters, digits, ".", "_" or "-", received "a 100"'],
      ['e', 'nodes[4].host_labels.n', 'expected string, received number 3'],
    ]);
  });

  it('are node fields only, with a hint for a near miss', () => {
    const err = invalid({ name: 'w', defaults: { host: 'a' }, nodes: [{ id: 'a', command: 'x', hosts: ['a'], resource: { gpu: 1 }, host_label: {} }] });
    expect(messages(err)).toEqual({
      'defaults.host': 'unknown key "host"',
      'nodes[0].hosts': 'unknown key "hosts" (did you mean "host"?)',
      'nodes[0].resource': 'unknown key "resource" (did you mean "resources"?)',
      'nodes[0].host_label': 'unknown key "host_label" (did you mean "host_labels"?)',
    });
    expect(KNOWN_KEYS.node).toEqual(expect.arrayContaining(['resources', 'host', 'host_labels']));
  });

  it('locates errors in a YAML file at their line', () => {
    const path = join(tmp, 'bad.yaml');
    writeFileSync(path, 'name: w\nnodes:\n  - id: train\n    command: "true"\n    resources:\n      gpu: two\n    host: [gpu1, "bad host"]\n');
    const err = catchError(() => loadWorkflowFile(path), ValidationError);
    expect(err.issues).toEqual([
      { file: path, node: 'train', field: 'nodes[0].resources.gpu', line: 6, column: 12, message: 'expected number, received "two"' },
      { file: path, node: 'train', field: 'nodes[0].host[1]', line: 7, column: 18, message: 'must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit, received "bad host"' },
    ]);
  });
});

describe('the workflow builder', () => {
  it('takes the same fields, checked as a file is', () => {
    const wf = workflow('w', { resources: { gpu: 1 } });
    wf.node('a', { command: 'true', resources: { licence_x: 2 }, host: ['h1'], host_labels: { zone: 'b' } });
    expect(wf.build().nodes[0]).toMatchObject({ resources: { gpu: 1, licence_x: 2 }, host: ['h1'], host_labels: { zone: 'b' } });
    wf.node('b', { command: 'true', host: 'bad host' });
    expect(catchError(() => wf.build(), ValidationError).issues.map((i) => [i.node, i.field])).toEqual([['b', 'nodes[1].host']]);
  });
});

describe('inheritance', () => {
  it('gives iterables copies and their descendants the resources and host constraints of the node they copy', () => {
    const wf = validateWorkflow({
      name: 'w',
      defaults: { resources: { licence_x: 1 } },
      nodes: [
        { id: 'src', command: 'echo {{inputs.s}}', iterables: { s: ['a', 'b'] }, resources: { gpu: 1 }, host: 'h1', host_labels: { gpu: 'a100' } },
        { id: 'after', command: 'true', needs: ['src'], host: ['h2'] },
      ],
    });
    expect(wf.nodes.map((n) => [n.id, n.resources, n.host, n.host_labels])).toEqual([
      ['src._s_a', { gpu: 1, licence_x: 1 }, ['h1'], { gpu: 'a100' }],
      ['src._s_b', { gpu: 1, licence_x: 1 }, ['h1'], { gpu: 'a100' }],
      ['after._s_a', { licence_x: 1 }, ['h2'], undefined],
      ['after._s_b', { licence_x: 1 }, ['h2'], undefined],
    ]);
  });

  it('gives map elements the resources and host constraints of their map node', () => {
    const wf = validateWorkflow({ name: 'm', nodes: [{ id: 'm', map: { over: ['i'] }, inputs: { i: [0, 1] }, command: 'true', resources: { gpu: 2 }, host: ['h1', 'h2'], host_labels: { zone: 'b' } }] });
    const g = new RunGraph({ workflow: wf, budget: { n_procs: 4, mem_gb: 8 }, order: 'tsort', raiseInsufficient: true, workDir: '/w', clock: () => 1000 });
    g.start();
    const plan = planMap(g.node(0), g.nodes.length, () => undefined);
    if (!plan.ok) throw new Error(plan.reason);
    const elements = g.expandMap(0, plan.map);
    expect(elements.map((e) => [e.node.id, e.node.resources, e.node.host, e.node.host_labels])).toEqual([
      ['_m0', { gpu: 2 }, ['h1', 'h2'], { zone: 'b' }],
      ['_m1', { gpu: 2 }, ['h1', 'h2'], { zone: 'b' }],
    ]);
  });
});

describe('stored run definitions', () => {
  const def = (workflow: unknown) => ({
    runId: 'r1',
    workflow: workflow as Workflow,
    budget: { n_procs: 4, mem_gb: 8 },
    order: 'tsort' as const,
    raiseInsufficient: true,
    stopOnFirstCrash: false,
    workDir: '/w',
    crashdumpDir: '/w/_crashes',
    memoryMargin: null,
  });

  it('read back the fields as stored', () => {
    const wf = validateWorkflow({ name: 'w', nodes: [{ id: 'a', command: 'true', resources: { gpu: 1 }, host: 'h1', host_labels: { zone: 'b' } }] });
    const back = definitionFromMeta('r1', metaFields(def(wf), 0));
    expect(back.workflow.nodes[0]).toMatchObject({ resources: { gpu: 1 }, host: ['h1'], host_labels: { zone: 'b' } });
  });

  it('of an older version, without the fields, read as no named resources and no host constraint', () => {
    // A node as versions before named resources stored it.
    const old = { name: 'w', nodes: [{ id: 'a', index: 0, command: ['true'], function: null, code_version: null, needs: [], n_procs: 1, mem_gb: 0.2, env: {}, shell: null, timeout_s: null, retries: 0, retry_delay_s: 0, inputs: {}, outputs: {}, stdout_json: false, overwrite: false, map: null, dir: 'a' }] };
    const node = definitionFromMeta('r1', metaFields(def(old), 0)).workflow.nodes[0];
    expect(node?.resources).toEqual({});
    expect(node).not.toHaveProperty('host');
    expect(node).not.toHaveProperty('host_labels');
  });
});

describe('where resources are shown', () => {
  const wf = validateWorkflow({ name: 'w', nodes: [{ id: 'train', command: 'true', n_procs: 2, resources: { gpu: 1 }, host: ['h1', 'h2'], host_labels: { zone: 'b' } }, { id: 'plain', command: 'true' }] });

  it('labels the graph with named resources and where a node may run', () => {
    expect(exportGraph(wf, 'dot')).toContain('n0 [label="train\\n2 procs, 0.2 GB, gpu 1\\non host h1, h2, zone=b"];');
    expect(exportGraph(wf, 'dot')).toContain('n1 [label="plain\\n1 proc, 0.2 GB"];');
    const json = JSON.parse(exportGraph(wf, 'json')) as { nodes: Array<Record<string, unknown>> };
    expect(json.nodes[0]).toMatchObject({ resources: { gpu: 1 }, host: ['h1', 'h2'], host_labels: { zone: 'b' } });
    expect(Object.keys(json.nodes[1] ?? {})).not.toContain('resources');
  });

  it('describes the fields in the JSON Schema for editors', () => {
    const node = (workflowJsonSchema() as { properties: { nodes: { items: { properties: Record<string, { description?: string }> } } } }).properties.nodes.items.properties;
    expect(Object.keys(node)).toEqual(expect.arrayContaining(['resources', 'host', 'host_labels']));
    expect(JSON.stringify(node['resources'])).toContain('"maximum":4096');
  });
});

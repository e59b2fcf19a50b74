/**
 * Workflows of 100 000 nodes and more, validated and planned in memory:
 * every walk is iterative and linear (no stack depth, no spread arguments, no
 * per-node ancestor sets), a 200 000-node cycle is reported as a cycle, and
 * expansions above the node limit are refused from their list lengths
 * before anything is made. Correctness is asserted here; speed lives in
 * bench/scale.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { chain, layered, wide } from '../../bench/scale-shapes.js';
import { planMap } from '../../src/scheduler/map-node.js';
import { RunGraph } from '../../src/scheduler/run-graph.js';
import { ValidationError } from '../../src/shared/errors.js';
import { heapNodeCapacity } from '../../src/shared/workflow/max-nodes.js';
import { parseSourceText } from '../../src/shared/workflow/source-text.js';
import { loadWorkflowFile, validateWorkflow } from '../../src/shared/workflow/parse.js';
import type { Workflow } from '../../src/shared/workflow/model.js';
import { tempDir } from '../helpers/cli.js';
import { catchError } from './support.js';

/** Generous: these build hundreds of thousands of objects on a shared 2-core machine. */
const LARGE_MS = 120_000;

function plan(wf: Workflow): RunGraph {
  const g = new RunGraph({ workflow: wf, budget: { n_procs: 8, mem_gb: 16 }, order: 'tsort', raiseInsufficient: true, workDir: '/w', clock: () => 1000 });
  g.start();
  return g;
}

/** Every node comes after all its predecessors in the plan's topological order. */
function topologicallyOrdered(g: RunGraph): boolean {
  const { preds, topoRank } = g.dag;
  for (let i = 0; i < g.size; i++) for (const p of preds[i] ?? []) if ((topoRank[p] ?? 0) >= (topoRank[i] ?? 0)) return false;
  return true;
}

describe('100 000-node workflows', () => {
  it(
    'validates and plans 100 000 independent nodes: all ready, admitted in file order',
    () => {
      const wf = validateWorkflow(wide(100_000));
      expect(wf.nodes).toHaveLength(100_000);
      const g = plan(wf);
      expect(g.readyCount).toBe(100_000);
      expect(g.admit().map((n) => n.node.id)).toEqual(['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
      expect(g.readyCount).toBe(99_992);
    },
    LARGE_MS,
  );

  it(
    'validates and plans 100 layers of 1000 nodes with two needs each',
    () => {
      const doc = layered(100, 1000);
      const wf = validateWorkflow(doc);
      expect(wf.nodes).toHaveLength(100_000);
      let edges = 0;
      for (const n of doc.nodes) edges += n.needs?.length ?? 0;
      expect(wf.nodes.reduce((sum, n) => sum + n.needs.length, 0)).toBe(edges);
      expect(edges).toBeGreaterThan(190_000);
      const g = plan(wf);
      expect(g.readyCount).toBe(1000);
      expect(topologicallyOrdered(g)).toBe(true);
      // The last layer descends from the first through 99 layers.
      expect(g.dag.descendants(0).some((d) => g.dag.idOf(d).startsWith('l99_'))).toBe(true);
    },
    LARGE_MS,
  );

  it(
    'validates and plans a chain of 100 000 nodes, and walks it without recursion',
    () => {
      const wf = validateWorkflow(chain(100_000));
      const g = plan(wf);
      expect(g.readyCount).toBe(1);
      expect(topologicallyOrdered(g)).toBe(true);
      expect(g.dag.descendants(0)).toHaveLength(99_999);
      // A failure at the head skips the whole chain below it.
      const [head] = g.admit();
      g.markRunning(head?.index ?? -1, 1);
      const failed = g.fail(head?.index ?? -1, 1, 'boom', undefined);
      expect(failed?.retry === false ? failed.skipped.length : -1).toBe(99_999);
    },
    LARGE_MS,
  );

  it(
    'reports a cycle through 200 000 nodes as a cycle, with its start and end',
    () => {
      const err = catchError(() => validateWorkflow(chain(200_000, true)), ValidationError);
      expect(err.code).toBe('WORKFLOW_CYCLE');
      expect(err.issues).toHaveLength(1);
      const message = err.issues[0]?.message ?? '';
      expect(message).toMatch(/^dependency cycle of 200,000 nodes: n0 -> n199999 -> n199998 -> .* -> n1 -> n0$/);
      expect(message.length).toBeLessThan(400);
    },
    LARGE_MS,
  );

  it(
    'expands iterables over a 50 000-node chain and joins them at its end',
    () => {
      const doc = chain(50_000) as { name: string; nodes: Array<Record<string, unknown>> };
      const first = doc.nodes[0] as Record<string, unknown>;
      first['iterables'] = { v: [1, 2] };
      first['command'] = ['echo', '{{inputs.v}}'];
      (doc.nodes[49_999] as Record<string, unknown>)['stdout_json'] = true;
      doc.nodes.push({ id: 'all', command: ['true'], inputs: { xs: { from: 'n49999.o' } }, join: { source: 'n0', fields: ['xs'] } });
      const wf = validateWorkflow(doc);
      expect(wf.nodes).toHaveLength(100_001);
      const all = wf.nodes[wf.nodes.length - 1];
      expect(all?.needs).toEqual(['n49999._v_1', 'n49999._v_2']);
      expect(all?.inputs['xs']).toEqual({ kind: 'gather', sources: [{ node: 'n49999._v_1', output: 'o' }, { node: 'n49999._v_2', output: 'o' }] });
      // Copies in file order, each in its value's directory.
      expect(wf.nodes.slice(0, 3).map((n) => [n.id, n.dir])).toEqual([['n0._v_1', '_v_1/n0'], ['n0._v_2', '_v_2/n0'], ['n1._v_1', '_v_1/n1']]);
      expect(wf.nodes[3]?.needs).toEqual(['n0._v_2']);
    },
    LARGE_MS,
  );

  it(
    'locates an error at the end of a 100 000-node JSON file by line and column',
    () => {
      const doc = wide(100_000) as { name: string; nodes: Array<Record<string, unknown>> };
      (doc.nodes[99_999] as Record<string, unknown>)['needs'] = ['n0', 'nope'];
      const file = join(tempDir('fg-scale'), 'big.json');
      const text = JSON.stringify(doc, null, 2);
      writeFileSync(file, text);
      const at = text.lastIndexOf('"nope"');
      const line = text.slice(0, at).split('\n').length;
      const column = at - text.lastIndexOf('\n', at);
      expect(line).toBe(600_005);
      const err = catchError(() => loadWorkflowFile(file), ValidationError);
      expect(err.issues).toEqual([{ file, node: 'n99999', field: 'nodes[99999].needs[1]', line, column, message: 'unknown node "nope"' }]);
    },
    LARGE_MS,
  );
});

describe('the node limit', () => {
  const product = (lists: number[], extra: Record<string, unknown> = {}) => ({
    name: 'p',
    nodes: [{ id: 'x', command: 'true', iterables: Object.fromEntries(lists.map((len, i) => [`p${i}`, Array.from({ length: len }, (_, k) => k)])), ...extra }],
  });

  it('refuses an iterables product above it from the list lengths, naming the node and the product', () => {
    const err = catchError(() => validateWorkflow(product([1000, 1000, 1000])), ValidationError);
    expect(err.code).toBe('WORKFLOW_TOO_LARGE');
    expect(err.exitCode).toBe(2);
    expect(err.issues).toEqual([{ node: 'x', field: 'nodes[0].iterables', message: 'iterables product 1000 × 1000 × 1000 = 1,000,000,000 nodes exceeds --max-nodes 1,000,000' }]);
  });

  it('refuses, before parsing, a YAML file whose document the heap cannot hold, pointing at JSON', () => {
    const { heap_size_limit: limit } = getHeapStatistics();
    const text = `name: big\nnodes:\n${'#'.repeat(Math.ceil(limit / 130))}\n`;
    const err = catchError(() => parseSourceText(text, 'big.yaml'), ValidationError);
    expect(err.code).toBe('WORKFLOW_TOO_LARGE');
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]?.file).toBe('big.yaml');
    expect(err.issues[0]?.message).toMatch(/^a YAML file of \d+ MB needs about [\d.]+ GB of heap to read, more than the [\d.]+ GB this process has left: write it as JSON/);
  });

  it('raised above what the heap can hold, is bounded by the heap all the same, and says so', () => {
    const capacity = heapNodeCapacity();
    const err = catchError(() => validateWorkflow(product([1000, 1000, 1000]), undefined, { maxNodes: 2_000_000_000 }), ValidationError);
    expect(err.code).toBe('WORKFLOW_TOO_LARGE');
    expect(err.issues[0]?.message).toBe(
      `iterables product 1000 × 1000 × 1000 = 1,000,000,000 nodes exceeds the ${capacity.toLocaleString('en-US')} nodes this process can hold (${Math.round((getHeapStatistics().heap_size_limit / 2 ** 30) * 10) / 10} GB of heap at about 4 KB a node; NODE_OPTIONS=--max-old-space-size=<MB> gives it more)`,
    );
    const literal = { name: 'm', nodes: [{ id: 'm', command: 'true', map: { over: ['a'] }, inputs: { a: [1, 2] } }] };
    expect(planMap(plan(validateWorkflow(literal)).node(0), 1, () => undefined, 2_000_000_000).ok).toBe(true);
  });

  it('is raised or lowered by maxNodes', () => {
    expect(validateWorkflow(product([10, 10]), undefined, { maxNodes: 100 }).nodes).toHaveLength(100);
    const err = catchError(() => validateWorkflow(product([10, 10]), undefined, { maxNodes: 99 }), ValidationError);
    expect(err.issues[0]?.message).toBe('iterables product 10 × 10 = 100 nodes exceeds --max-nodes 99');
    // In lockstep the lists make one copy per position.
    expect(validateWorkflow(product([60, 60], { synchronize: true }), undefined, { maxNodes: 60 }).nodes).toHaveLength(60);
  });

  it('bounds the copies of a node downstream of iterables, and the whole expanded workflow', () => {
    const downstream = {
      name: 'd',
      nodes: [
        { id: 'a', command: 'true', iterables: { s: Array.from({ length: 20 }, (_, k) => k) } },
        { id: 'b', command: 'true', needs: ['a'], iterables: { t: Array.from({ length: 20 }, (_, k) => k) } },
      ],
    };
    const copies = catchError(() => validateWorkflow(downstream, undefined, { maxNodes: 300 }), ValidationError);
    expect(copies.issues).toEqual([{ node: 'b', field: 'nodes[1]', message: 'one copy per value of "a" and "b": 20 × 20 = 400 nodes exceeds --max-nodes 300' }]);
    const apart = { name: 't', nodes: ['a', 'b'].map((id) => ({ id, command: 'true', iterables: { s: Array.from({ length: 30 }, (_, k) => k) } })) };
    const total = catchError(() => validateWorkflow(apart, undefined, { maxNodes: 50 }), ValidationError);
    expect(total.code).toBe('WORKFLOW_TOO_LARGE');
    expect(total.issues).toEqual([{ message: 'iterables expand the workflow to 60 nodes, which exceeds --max-nodes 50' }]);
  });

  it('checks a large product\'s directory names only once the whole workflow is known to fit', () => {
    // 200 × 100 = 20,000 copies of x (two of its values share a directory name), and as many of y.
    const colliding = (maxNodes?: number) => () =>
      validateWorkflow(
        {
          name: 'c',
          nodes: [
            { id: 'x', command: 'true', iterables: { p: ['a b', 'a_b', ...Array.from({ length: 198 }, (_, k) => k)], q: Array.from({ length: 100 }, (_, k) => k) } },
            { id: 'y', command: 'true', needs: ['x'] },
          ],
        },
        undefined,
        maxNodes === undefined ? {} : { maxNodes },
      );
    const tooLarge = catchError(colliding(30_000), ValidationError);
    expect(tooLarge.code).toBe('WORKFLOW_TOO_LARGE');
    expect(tooLarge.issues).toEqual([{ message: 'iterables expand the workflow to 40,000 nodes, which exceeds --max-nodes 30,000' }]);
    const named = catchError(colliding(), ValidationError);
    expect(named.code).toBe('WORKFLOW_INVALID');
    expect(named.issues).toEqual([{ node: 'x', field: 'nodes[0].iterables', message: 'two values give the same directory name "_p_a_b_q_0"' }]);
  });

  it('refuses a map over literal lists above it, and a map over connected lists when it is expanded', () => {
    const literal = { name: 'm', nodes: [{ id: 'm', command: 'true', map: { over: ['a', 'b'], mode: 'product' }, inputs: { a: [1, 2, 3], b: [1, 2, 3] } }] };
    const err = catchError(() => validateWorkflow(literal, undefined, { maxNodes: 8 }), ValidationError);
    expect(err.issues).toEqual([{ node: 'm', field: 'nodes[0].map', message: 'map product 3 × 3 = 9 nodes exceeds --max-nodes 8' }]);
    const wf = validateWorkflow(literal);
    const g = plan(wf);
    expect(planMap(g.node(0), 1, () => undefined, 8)).toEqual({ ok: false, reason: 'map product 3 × 3 = 9 nodes exceeds --max-nodes 8' });
    expect(planMap(g.node(0), 1, () => undefined, 9).ok).toBe(true);
  });
});

/**
 * What a run's scheduler keeps for every node, for the run's whole length,
 * is shared where it can be: one frozen object per distinct plain request
 * (the node's request, its grant and its recorded grant), one frozen empty
 * object for absent env, inputs, outputs and named resources, the graph's
 * lists at their exact length, attempt histories replaced rather than grown,
 * kept log paths made when read, the commonest cache misses one object each.
 * Sharing must never change what a node is given or what is recorded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clampToBudget } from '../../src/scheduler/admission.js';
import { Dispatcher } from '../../src/scheduler/dispatch.js';
import { requestOf } from '../../src/scheduler/node-request.js';
import { RunGraph } from '../../src/scheduler/run-graph.js';
import { missRecord } from '../../src/scheduler/cache.js';
import { addAttempts, emptyRecord, recordAttempt } from '../../src/scheduler/node-record.js';
import type { AttemptSummary } from '../../src/scheduler/summary.js';
import { attemptLogPath } from '../../src/shared/attempt-logs.js';
import { Dag } from '../../src/shared/dag.js';
import { InternTable } from '../../src/shared/intern.js';
import { validateWorkflow } from '../../src/shared/workflow/parse.js';
import { FakeClock, makeWorkflow, outcome } from './support.js';

describe('plain requests', () => {
  const wf = makeWorkflow([
    { id: 'a', n_procs: 2, mem_gb: 0.5 },
    { id: 'b', n_procs: 2, mem_gb: 0.5 },
    { id: 'c', n_procs: 1, mem_gb: 0.5 },
    { id: 'g', n_procs: 2, mem_gb: 0.5, resources: { gpu: 1 } },
  ]);
  const [a, b, c, g] = wf.nodes.map(requestOf);

  it('are one frozen object per distinct amount; a request with named resources is its own', () => {
    expect(a).toBe(b);
    expect(a).toEqual({ n_procs: 2, mem_gb: 0.5 });
    expect(Object.isFrozen(a)).toBe(true);
    expect(c).not.toBe(a);
    expect(c).toEqual({ n_procs: 1, mem_gb: 0.5 });
    expect(g).not.toBe(a);
    expect(g).toEqual({ n_procs: 2, mem_gb: 0.5, resources: { gpu: 1 } });
  });

  it('are their own grant when they fit, and clamped into a new object when they do not', () => {
    expect(clampToBudget(a!, { n_procs: 8, mem_gb: 4 })).toBe(a);
    const clamped = clampToBudget(a!, { n_procs: 1, mem_gb: 4 });
    expect(clamped).toEqual({ n_procs: 1, mem_gb: 0.5 });
    expect(a).toEqual({ n_procs: 2, mem_gb: 0.5 });
  });

  it('are shared by the run graph as request, grant and recorded grant; a clamped node records its clamp', () => {
    const graph = new RunGraph({
      workflow: makeWorkflow([{ id: 'small', n_procs: 1, mem_gb: 0.25 }, { id: 'big', n_procs: 1, mem_gb: 8 }]),
      budget: { n_procs: 2, mem_gb: 2 },
      order: 'tsort',
      raiseInsufficient: false,
      workDir: '/tmp/x',
      clock: new FakeClock(0).read,
    });
    const [small, big] = graph.nodes;
    expect(small!.candidate.grant).toBe(small!.candidate.request);
    expect(small!.record.granted).toBe(small!.candidate.grant);
    expect(big!.candidate.request).toEqual({ n_procs: 1, mem_gb: 8 });
    expect(big!.record.granted).toEqual({ n_procs: 1, mem_gb: 2 });
    expect(JSON.parse(JSON.stringify(small!.record)).granted).toEqual({ n_procs: 1, mem_gb: 0.25 });
  });
});

describe('nodes read from a file', () => {
  it('share one frozen empty object for absent env, inputs, outputs and resources; given ones are their own', () => {
    const wf = validateWorkflow({
      version: 1,
      name: 'e',
      nodes: [
        { id: 'a', command: ['true'] },
        { id: 'b', command: ['true'], env: { X: '1' }, resources: { gpu: 1 } },
        { id: 'c', command: ['true'], env: {} },
      ],
    });
    const [a, b, c] = wf.nodes;
    expect(a!.env).toEqual({});
    for (const field of ['env', 'inputs', 'outputs', 'resources'] as const) {
      expect(a![field]).toBe(c![field]);
      expect(Object.isFrozen(a![field])).toBe(true);
    }
    expect(b!.env).toEqual({ X: '1' });
    expect(b!.resources).toEqual({ gpu: 1 });
    expect(() => {
      (a!.env as Record<string, string>)['Y'] = '2';
    }).toThrow(TypeError);
  });
});

describe('the graph lists', () => {
  it('hold every predecessor and successor at its exact length, successors in file order', () => {
    const dag = new Dag([
      { id: 'r', needs: [] },
      { id: 'x', needs: ['r'] },
      { id: 'y', needs: ['r'] },
      { id: 'z', needs: ['r', 'x'] },
    ]);
    expect(dag.succs).toEqual([[1, 2, 3], [3], [], []]);
    expect(dag.preds).toEqual([[], [0], [0], [0, 1]]);
    // No holes: every slot is set.
    for (const list of [...dag.succs, ...dag.preds]) expect(Object.keys(list)).toHaveLength(list.length);
  });
});

describe('attempt histories', () => {
  it('are replaced by a list one longer, the earlier entries kept in order', () => {
    const r = emptyRecord({ id: 'n', n_procs: 1, mem_gb: 1 }, { n_procs: 1, mem_gb: 1 }, '/tmp/n');
    const first = r.attempt_history;
    const entry = (attempt: number): AttemptSummary => ({ attempt, status: 'failed', reason: 'x', exit_code: 1, signal: null, start_ms: 1, end_ms: 2, worker: 'w' });
    addAttempts(r, entry(1));
    addAttempts(r, entry(2), entry(3));
    expect(first).toEqual([]);
    expect(r.attempt_history.map((a) => a.attempt)).toEqual([1, 2, 3]);
  });
});

describe('attempts whose logs were kept under the run', () => {
  const logs = '/work/_runs/r1.logs';
  const kept = (node: string, attempt: number) => ({ stdout_path: attemptLogPath(logs, node, attempt, 'stdout'), stderr_path: attemptLogPath(logs, node, attempt, 'stderr') });

  it('read and serialise exactly as if the paths were stored, without storing them', () => {
    const r = emptyRecord({ id: 'n7', n_procs: 1, mem_gb: 1 }, { n_procs: 1, mem_gb: 1 }, '/work/wf/n7');
    recordAttempt(r, 1, 'failed', 'exit code 1', outcome({ exit_code: 1, ...kept('n7', 1) }));
    recordAttempt(r, 2, 'succeeded', null, outcome({ stdout_path: attemptLogPath(logs, 'n7', 2, 'stdout'), stderr_path: '' }));
    const [first, second] = r.attempt_history;
    expect(first!.stdout_path).toBe('/work/_runs/r1.logs/n7.1.stdout.log');
    expect(first!.stderr_path).toBe('/work/_runs/r1.logs/n7.1.stderr.log');
    expect(second!.stderr_path).toBeUndefined();
    // No path string is held by the entry itself.
    expect(Object.values(first!).filter((v) => typeof v === 'string' && v.endsWith('.log'))).toEqual([]);
    expect(JSON.stringify(r.attempt_history)).toBe(
      JSON.stringify([
        { attempt: 1, status: 'failed', reason: 'exit code 1', exit_code: 1, signal: null, start_ms: 10, end_ms: 20, worker: 'host:1', ...kept('n7', 1) },
        { attempt: 2, status: 'succeeded', reason: null, exit_code: 0, signal: null, start_ms: 10, end_ms: 20, worker: 'host:1', stdout_path: attemptLogPath(logs, 'n7', 2, 'stdout') },
      ]),
    );
  });

  it('store paths that are not the run\'s usual names as they were given', () => {
    const r = emptyRecord({ id: 'n', n_procs: 1, mem_gb: 1 }, { n_procs: 1, mem_gb: 1 }, '/work/wf/n');
    recordAttempt(r, 1, 'succeeded', null, outcome({ stdout_path: '/work/wf/n/stdout.log', stderr_path: `${logs}/other.1.stderr.log` }));
    expect(r.attempt_history[0]).toEqual({ attempt: 1, status: 'succeeded', reason: null, exit_code: 0, signal: null, start_ms: 10, end_ms: 20, worker: 'host:1', stdout_path: '/work/wf/n/stdout.log', stderr_path: `${logs}/other.1.stderr.log` });
  });
});

describe('node records', () => {
  it('keep their fields in the same order, named resources first', () => {
    const plain = emptyRecord({ id: 'a', n_procs: 1, mem_gb: 1 }, { n_procs: 1, mem_gb: 1 }, '/d/a');
    const named = emptyRecord({ id: 'g', n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, { n_procs: 1, mem_gb: 1, resources: { gpu: 1 } }, '/d/g');
    expect(Object.keys(plain).slice(0, 3)).toEqual(['id', 'status', 'n_procs']);
    expect(Object.keys(named)).toEqual(['resources', ...Object.keys(plain)]);
    expect(named.granted).toEqual({ n_procs: 1, mem_gb: 1, resources: { gpu: 1 } });
  });

  it('share one frozen cache entry for the commonest misses; others get their own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-misses-'));
    try {
      const workflow = validateWorkflow({ version: 1, name: 't', nodes: [{ id: 'a', command: ['true'] }, { id: 'b', command: ['true'] }, { id: 'c', command: ['true'], overwrite: true }] });
      const graph = new RunGraph({ workflow, budget: { n_procs: 4, mem_gb: 4 }, order: 'tsort', raiseInsufficient: true, workDir: dir, clock: new FakeClock(0).read });
      const dispatch = new Dispatcher(graph, { runId: 'r', workflow: 't', memoryMargin: null, maxOutputBytes: 1e6, hashMethod: 'timestamp', updateHash: false, readOnly: true });
      graph.start();
      await dispatch.checkReady();
      const [a, b, c] = graph.nodes;
      expect(a!.record.cache).toEqual({ hit: false, reasons: ['no cache record (never finished here, or its last run did not finish)'] });
      expect(b!.record.cache).toBe(a!.record.cache);
      expect(Object.isFrozen(a!.record.cache)).toBe(true);
      expect(c!.record.cache).toEqual({ hit: false, reasons: ['overwrite: true'] });
      const reasons = ['output files missing: a'];
      expect(missRecord(reasons)).toEqual({ hit: false, reasons });
      expect(missRecord(reasons)).not.toBe(missRecord(reasons));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cache tickets of nodes with path inputs', () => {
  it('are kept while the node may run again, and let go once it has ended for good', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-tickets-'));
    try {
      writeFileSync(join(dir, 'data.txt'), 'x');
      const node = (id: string, retries: number): Record<string, unknown> => ({ id, command: ['true'], inputs: { data: { path: 'data.txt' } }, retries });
      const workflow = validateWorkflow({ version: 1, name: 't', nodes: [node('once', 0), node('twice', 1)] }, undefined, { baseDir: dir });
      const graph = new RunGraph({ workflow, budget: { n_procs: 4, mem_gb: 4 }, order: 'tsort', raiseInsufficient: true, workDir: join(dir, 'work'), clock: new FakeClock(0).read });
      const dispatch = new Dispatcher(graph, { runId: 'r', workflow: 't', memoryMargin: null, maxOutputBytes: 1e6, hashMethod: 'timestamp', updateHash: false, readOnly: true });
      graph.start();
      await dispatch.checkReady();
      const [once, twice] = graph.admit();
      expect(dispatch.keptTickets).toBe(2);
      graph.complete(once!.index, once!.attempt, outcome());
      dispatch.settled(once!.index);
      expect(dispatch.keptTickets).toBe(1);
      // A failure with a retry left: the next attempt fingerprints the same files.
      expect(graph.fail(twice!.index, twice!.attempt, 'exit code 1', outcome({ ok: false, exit_code: 1 }))?.retry).toBe(true);
      dispatch.settled(twice!.index);
      expect(dispatch.keptTickets).toBe(1);
      expect(dispatch.jobsFor([twice!]).jobs[0]?.data.cache?.parts.files).toHaveProperty([join(dir, 'data.txt')]);
      graph.fail(twice!.index, twice!.attempt, 'exit code 1', outcome({ ok: false, exit_code: 1 }));
      dispatch.settled(twice!.index);
      expect(dispatch.keptTickets).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('intern tables', () => {
  it('hand out one value per key, and start again past their bound', () => {
    const t = new InternTable<{ k: string }>(2);
    const a = t.get('a', () => ({ k: 'a' }));
    expect(t.get('a', () => ({ k: 'a' }))).toBe(a);
    t.get('b', () => ({ k: 'b' }));
    // A third key clears the table: 'a' is made again, still equal.
    t.get('c', () => ({ k: 'c' }));
    const again = t.get('a', () => ({ k: 'a' }));
    expect(again).not.toBe(a);
    expect(again).toEqual(a);
  });
});
